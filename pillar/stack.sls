# Site settings and versions that are not topology (topology lives in nodes.yaml).
# Formula defaults live in formulas/<name>/defaults.yaml and only there: a key set here to its
# default's value would hide any later edit of the default (tests/render/test_formula_shape.py refuses
# that). What differs from a default is written here, with why.
# swap, nfs: their defaults (4 GiB swap file; NFS version auto: what the kernels offer, see
# formulas/nfs/pillar.example); the site pillar (site.sls) may change them.

sudoers:
  files:
    # The formula defaults to no drop-in; the workload needs this one.
    diagnosenet:
      # Energy capture (formula diagnosenet, capture:*): tegrastats as root only through the
      # root-owned wrapper, with no argument (""); DiagnoseNET stops it with
      # `sudo killall -9 tegrastats`, the plain form is allowed too. Nothing else, no wildcard:
      # the recorder runs as the user, iftop is not allowed (its bandwidth filter varies per
      # run and would need a wildcard; iftop -c reads any file as root).
      - 'ALL=(root) NOPASSWD: /opt/enerGyPU/bin/tegrastats-root ""'
      - 'ALL=(root) NOPASSWD: /usr/bin/killall tegrastats'
      - 'ALL=(root) NOPASSWD: /usr/bin/killall -9 tegrastats'
