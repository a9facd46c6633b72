# VM lab site pillar: the first pillar root of the VM lab's salt-master, in place of
# lab/pillar/ (whose switches are for containers). VMs have real kernels, so NFS and swap run
# as on the array (pillar/stack.sls defaults); only what differs from the array is set here.
# See docs/vm-lab.md.
nfs:
  server:
    format_device: true       # the masters' SSDs are blank virtual disks made for each run
