# Site settings and versions that are not topology (topology lives in nodes.yaml).
# Formula defaults live in formulas/<name>/defaults.yaml; only what differs from them,
# or what an operator is expected to tune, is written here.

swap:
  size_mb: 4096

# nfs: formulas/nfs/defaults.yaml (version auto: what the kernels offer; see pillar.example).

sudoers:
  files:
    diagnosenet:
      # Energy capture (formula diagnosenet, capture:*): tegrastats as root only through the
      # root-owned wrapper, with no argument (""); DiagnoseNET stops it with
      # `sudo killall -9 tegrastats`, the plain form is allowed too. Nothing else, no wildcard:
      # the recorder runs as the user, iftop is not allowed (its bandwidth filter varies per
      # run and would need a wildcard; iftop -c reads any file as root).
      - 'ALL=(root) NOPASSWD: /opt/enerGyPU/bin/tegrastats-root ""'
      - 'ALL=(root) NOPASSWD: /usr/bin/killall tegrastats'
      - 'ALL=(root) NOPASSWD: /usr/bin/killall -9 tegrastats'
