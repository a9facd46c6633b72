# Pillar for every node. Later files override earlier ones (recursive merge).
# `site` is optional and lives outside git, in a second pillar root: secrets (the mpiuser
# password hash) and per-site overrides; see pillar/site.sls.example. `ssh_mesh_keys` is
# written there by tools/mesh_keys.py for the agentless path (salt-ssh has no mine).
base:
  '*':
    - cluster
    - stack
    - gpu
    - acceptance
    - site
    - ssh_mesh_keys
    - ignore_missing: True
