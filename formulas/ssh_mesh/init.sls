{#- The SSH mesh: every node trusts exactly the cluster's user keys and pins every node's host keys. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import ssh_mesh with context %}
{%- set home = ssh_mesh.home %}
{%- set authorized = salt["ssh_mesh.authorized_keys"](ssh_mesh.peers, ssh_mesh.user, ssh_mesh["keys"]) %}
{%- set known = salt["ssh_mesh.known_hosts"](ssh_mesh.peers, ssh_mesh["keys"]) %}
{#- Kept besides the cluster's (both files are whole files): an operator's key, the salt-master's
    host key... each checked as a public key by the module; a bad entry stops the render, named. #}
{%- set extra_authorized = salt["ssh_mesh.extra_authorized_keys"](ssh_mesh.extra_authorized_keys) %}
{%- set extra_known = salt["ssh_mesh.extra_known_hosts"](ssh_mesh.extra_known_hosts) %}
{%- if ssh_mesh.peers and not (authorized and known) %}
{#- No keys (no mine.update yet; under salt-ssh, which has no mine, no ssh_mesh:keys pillar from
    tools/mesh_keys.py) would empty both files and lock the cluster user out: refuse, and
    change nothing. #}
ssh-mesh-mine-has-keys:
  test.fail_without_changes:
    - name: >-
        ssh_mesh on {{ grains.id }}: no {{ "user" if not authorized else "host" }} keys of the cluster
        in pillar ssh_mesh:keys (if set) or else the Salt mine; run `salt-run state.orch
        orch.rollout` (or mine.update on every node), or with salt-ssh tools/mesh_keys.py,
        first. authorized_keys and ssh_known_hosts were left as they are.
    - require_in:
      - file: ssh-mesh-authorized-keys
      - file: ssh-mesh-known-hosts
{%- endif %}

include:
  - {{ tplroot }}.keys

ssh-mesh-authorized-keys:
  file.managed:
    - name: {{ home }}/.ssh/authorized_keys
    - contents: {{ (["# Managed by Salt (formula ssh_mesh): the cluster's keys, from the mine."] + authorized
                    + (["# pillar ssh_mesh:extra_authorized_keys"] + extra_authorized if extra_authorized else []))
                   | json }}
    - user: {{ ssh_mesh.user }}
    - group: {{ ssh_mesh.user }}
    - mode: '0600'
    {#- The user may have planted a link here: replace it, never write through it. #}
    - follow_symlinks: False
    - require:
      - file: ssh-mesh-user-dir

ssh-mesh-known-hosts:
  file.managed:
    - name: {{ ssh_mesh.known_hosts_file }}
    - contents: {{ (["# Managed by Salt (formula ssh_mesh): host keys of every node, from the mine."] + known
                    + (["# pillar ssh_mesh:extra_known_hosts"] + extra_known if extra_known else [])) | json }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - pkg: ssh-mesh-packages

ssh-mesh-sshd:
  service.running:
    - name: {{ ssh_mesh.service }}
    - enable: True
    - require:
      - pkg: ssh-mesh-packages
