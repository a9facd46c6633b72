"""The VM lab backend: qemu VMs with real kernels (kernel NFS, reboots, a dead master)."""
