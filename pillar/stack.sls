# Site settings and versions that are not topology (topology lives in nodes.yaml).
# Formula defaults live in formulas/<name>/defaults.yaml; only what differs from them,
# or what an operator is expected to tune, is written here.

cluster_user:
  groups: [sudo, video]       # video: GPU access on L4T
  shell: /bin/bash

swap:
  size_mb: 4096

# nfs: formulas/nfs/defaults.yaml (version auto: what the kernels offer; see pillar.example).

sudoers:
  files:
    diagnosenet:
      # The workload's energy recorder and tegrastats, copied root-owned to local disk by
      # the diagnosenet formula (never on NFS, never writable by mpiuser).
      - 'ALL=(root) NOPASSWD: /opt/enerGyPU/dataCapture/enerGyPU_record-jetson.sh'
      - 'ALL=(root) NOPASSWD: /opt/enerGyPU/dataCapture/tegrastats'
      - 'ALL=(root) NOPASSWD: /usr/bin/killall tegrastats'
      - 'ALL=(root) NOPASSWD: /usr/sbin/iftop'
