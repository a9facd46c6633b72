{#- Ordered rollout: keys into the mine, masters' NFS servers, a check that every export is its
    mounted SSD and answers, then the full state on every node.
    Masters may not fail: a master's failure stops everything after it, named. Workers may:
    a worker that is off or fails is named in its step's result and the others go on (the
    workers' key step is required by nothing; the last step runs every node at once).
    Run: salt-run state.orch orch.rollout #}
{%- set cluster = salt["pillar.get"]("cluster", {}) %}
{%- if not cluster %}
{{ raise("orch.rollout: pillar has no `cluster` (node table) on the master") }}
{%- endif %}
{%- set everyone = cluster.nodes | map(attribute="name") | list %}
{%- set workers = everyone | reject("in", cluster.masters) | list %}
{#- nfs:mount_now false (image builds, the container lab): no server runs, nothing to ask. #}
{%- import_yaml "nfs/defaults.yaml" as nfs_defaults %}
{%- set nfs = salt["slsutil.merge"](nfs_defaults.nfs, salt["pillar.get"]("nfs", {}), strategy="recurse") %}
{%- set live_nfs = nfs.mount_now %}

rollout-ssh-keys:
  salt.state:
    - tgt: {{ cluster.masters | json }}
    - tgt_type: list
    - sls: [ssh_mesh.keys]

{%- if workers %}
rollout-ssh-keys-workers:
  salt.state:
    - tgt: {{ workers | json }}
    - tgt_type: list
    - sls: [ssh_mesh.keys]
{%- endif %}

{#- Only a highstate syncs salt://_modules and _grains by itself: sync them (the nfs_kernel
    grain, the nfs_version module the nfs states call), then reload the minions' grains and
    wait for it, before the mine sends them. Nodes that are off do not answer: no failure. #}
rollout-sync:
  salt.function:
    - name: saltutil.sync_all
    - tgt: {{ everyone | json }}
    - tgt_type: list
    - require:
      - salt: rollout-ssh-keys

rollout-grains-refresh:
  salt.function:
    - name: saltutil.refresh_pillar
    - tgt: {{ everyone | json }}
    - tgt_type: list
    - kwarg:
        wait: True
        timeout: 120
    - require:
      - salt: rollout-sync

rollout-mine-update:
  salt.function:
    - name: mine.update
    - tgt: {{ everyone | json }}
    - tgt_type: list
    - require:
      - salt: rollout-grains-refresh

rollout-nfs-masters:
  salt.state:
    - tgt: {{ cluster.masters | json }}
    - tgt_type: list
    - sls: [nfs.server]
    - require:
      - salt: rollout-mine-update

{%- if live_nfs %}
rollout-exports-answer:
  salt.function:
    - name: cmd.run
    - tgt: {{ cluster.masters | json }}
    - tgt_type: list
    - kwarg:
        {#- as kwarg cmd: an arg string that starts `name=...` would be taken for a keyword #}
        cmd: >-
          d={{ nfs.server.mountpoint | quote }};
          mountpoint -q "$d" || { echo "$d is not mounted (its SSD): nothing may be served"; exit 1; };
          exportfs -v | awk -v d="$d" '$1 == d {found = 1} END {exit !found}' ||
          { echo "$d is not exported"; exit 1; }
        python_shell: True
    - require:
      - salt: rollout-nfs-masters
{%- endif %}

rollout-all-nodes:
  salt.state:
    - tgt: {{ everyone | json }}
    - tgt_type: list
    - highstate: True
    - require:
      - salt: {{ "rollout-exports-answer" if live_nfs else "rollout-nfs-masters" }}
