{#- Ordered rollout: keys into the mine, masters' NFS servers, a check that every export answers,
    then the full state on every node. A master failure stops the clients with a named error.
    Run: salt-run state.orch orch.rollout #}
{%- set cluster = salt["pillar.get"]("cluster", {}) %}
{%- if not cluster %}
{{ raise("orch.rollout: pillar has no `cluster` (node table) on the master") }}
{%- endif %}
{%- set everyone = cluster.nodes | map(attribute="name") | list %}
{#- nfs:mount_now false (image builds, the container lab): no server runs, nothing to ask. #}
{%- set live_nfs = salt["pillar.get"]("nfs:mount_now", True) %}

rollout-ssh-keys:
  salt.state:
    - tgt: {{ everyone | json }}
    - tgt_type: list
    - sls: [ssh_mesh.keys]

rollout-mine-update:
  salt.function:
    - name: mine.update
    - tgt: {{ everyone | json }}
    - tgt_type: list
    - require:
      - salt: rollout-ssh-keys

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
    - arg:
      - exportfs -v | grep -q '^/exports[[:space:]]'
    - kwarg:
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
