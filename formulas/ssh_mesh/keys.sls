{#- The node's own user keypair: generated on the node, never leaves it. Its public half goes to
    the mine only through a root-owned copy (ssh_mesh:published_key) that ssh_mesh.publish writes
    after checking the user's file: not a link, owned by the user, a regular small file, exactly
    one public key line. The mine reads that copy, never a file the user can point elsewhere. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import ssh_mesh with context %}
{%- set home = ssh_mesh.home %}
{%- set keyfile = home ~ "/.ssh/id_" ~ ssh_mesh.key_type %}

include:
  - cluster_user

ssh-mesh-packages:
  pkg.installed:
    - pkgs: {{ ssh_mesh.packages | json }}

ssh-mesh-user-dir:
  file.directory:
    - name: {{ home }}/.ssh
    - user: {{ ssh_mesh.user }}
    - group: {{ ssh_mesh.user }}
    - mode: '0700'
    {#- A link planted by the user (e.g. to /root/.ssh) fails the state: root never writes through it. #}
    - allow_symlink: False
    - require:
      - user: cluster-user-account
      - file: cluster-user-home

ssh-mesh-user-key:
  cmd.run:
    - name: ssh-keygen -q -t {{ ssh_mesh.key_type | quote }} -N '' -C {{ (ssh_mesh.user ~ "@" ~ grains.id) | quote }} -f {{ keyfile | quote }}
    - runas: {{ ssh_mesh.user }}
    - creates: {{ keyfile }}
    - require:
      - file: ssh-mesh-user-dir
      - pkg: ssh-mesh-packages

{%- if not ssh_mesh.published_key %}
{{ raise("pillar ssh_mesh:published_key is empty: is this minion in the node table?") }}
{%- endif %}

{%- if "ssh_mesh.publish" not in salt %}
{#- `state.sls ssh_mesh.keys` (orch.rollout's first step) does not sync salt/_modules as a
    highstate does: sync them here, once, and reload, so the checked publish below exists. #}

ssh-mesh-custom-modules:
  saltutil.sync_modules:
    - refresh: True
    - reload_modules: True
    - require_in:
      - module: ssh-mesh-user-key-published
{%- endif %}

ssh-mesh-user-key-published:
  module.run:
    - ssh_mesh.publish:
      - user: {{ ssh_mesh.user | yaml_dquote }}
      - source: {{ (keyfile ~ ".pub") | yaml_dquote }}
      - dest: {{ ssh_mesh.published_key | yaml_dquote }}
    - unless:
      - fun: ssh_mesh.is_published
        user: {{ ssh_mesh.user | yaml_dquote }}
        source: {{ (keyfile ~ ".pub") | yaml_dquote }}
        dest: {{ ssh_mesh.published_key | yaml_dquote }}
    - require:
      - cmd: ssh-mesh-user-key

ssh-mesh-mine-update:
  module.run:
    - mine.update: []
    - onchanges:
      - module: ssh-mesh-user-key-published
