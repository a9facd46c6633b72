# Lab overrides (second pillar root of the lab salt-master, ahead of pillar/): switches for
# what containers cannot do. See docs/design.md "Switches" and docs/lab.md.
nfs:
  mount_now: false            # no kernel NFS: write exports/fstab, start/mount nothing
swap:
  activate: false             # no swapon in containers: make the file and fstab entry only
gpu_stack:
  install_without_gpu: true   # gpu: false nodes still install the stack from the fixture package
