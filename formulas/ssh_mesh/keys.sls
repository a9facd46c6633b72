{#- The node's own user keypair: generated on the node, never leaves it; its public half goes to the mine. #}
{%- from tpldir ~ "/map.jinja" import ssh_mesh with context %}
{%- set home = salt["user.info"](ssh_mesh.user).get("home", "/home/" ~ ssh_mesh.user) %}
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
    - require:
      - user: cluster-user-account
      - file: cluster-user-home

ssh-mesh-user-key:
  cmd.run:
    - name: ssh-keygen -q -t {{ ssh_mesh.key_type }} -N '' -C {{ ssh_mesh.user }}@{{ grains.id }} -f {{ keyfile }}
    - runas: {{ ssh_mesh.user }}
    - creates: {{ keyfile }}
    - require:
      - file: ssh-mesh-user-dir
      - pkg: ssh-mesh-packages

ssh-mesh-mine-update:
  module.run:
    - mine.update: []
    - onchanges:
      - cmd: ssh-mesh-user-key
