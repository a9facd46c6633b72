# Pillar for every node. Later files override earlier ones (recursive merge).
# `site` is optional and lives outside git, in a second pillar root: secrets (the mpiuser
# password hash) and per-site overrides; see pillar/site.sls.example.
base:
  '*':
    - cluster
    - stack
    - gpu
    - site
    - ignore_missing: True
