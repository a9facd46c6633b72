{#- Each formula's settings as its map.jinja resolves them (formulas/<name>/defaults.yaml merged
    with pillar <name>, plus what the map derives: gpu_stack active, nfs chosen, ...), written to
    one root-only file on the node for an operator to read: `salt <node> state.apply _mapdata`.
    Not part of the highstate (salt/top.sls). The idea of template-formula's _mapdata
    (https://github.com/saltstack-formulas/template-formula). The maps hold the site's secrets
    (cluster_user:password_hash): the file is root's, 0600, and the state shows no diff. -#}
{%- from "cluster_user/map.jinja" import cluster_user with context %}
{%- from "diagnosenet/map.jinja" import diagnosenet with context %}
{%- from "gpu_stack/map.jinja" import gpu_stack with context %}
{%- from "hosts/map.jinja" import hosts with context %}
{%- from "nfs/map.jinja" import nfs with context %}
{%- from "ssh_mesh/map.jinja" import ssh_mesh with context %}
{%- from "sudoers/map.jinja" import sudoers with context %}
{%- from "swap/map.jinja" import swap with context %}
{%- set maps = {"cluster_user": cluster_user, "diagnosenet": diagnosenet, "gpu_stack": gpu_stack,
                "hosts": hosts, "nfs": nfs, "ssh_mesh": ssh_mesh, "sudoers": sudoers, "swap": swap} %}

mapdata-file:
  file.serialize:
    - name: /var/lib/jetson-array/mapdata.yaml
    - serializer: yaml
    - dataset: {{ maps | json }}
    - user: root
    - group: root
    - mode: '0600'
    - makedirs: True
    - show_changes: False
