# VM lab site pillar: the first pillar root of the VM lab's salt-master, in place of
# lab/files/pillar/ (whose switches are for containers). VMs have real kernels, so NFS and swap run
# as on the array (pillar/stack.sls defaults); only what differs from the array is set here.
# See docs/vm-lab.md.
nfs:
  server:
    format_device: true       # the masters' SSDs are blank virtual disks made for each run
# The acceptance gate's references (pillar/acceptance.sls): four VMs share this machine's 2 CPUs
# and a user-space switch, so NFS and MPI are far below the array's floors, and their spread says
# nothing about a node (lab/files/pillar/site.sls has the container lab's, with the CPU outlier).
acceptance:
  references:
    cpu_mops: {floor: 0.01, outlier: null}
    nfs_write_mbs: {floor: 0.1, outlier: null}
    nfs_read_mbs: {floor: 0.1, outlier: null}
    mpi_latency_us: {ceiling: 100000, outlier: null}
    mpi_bw_mbs: {floor: 0.1, outlier: null}
