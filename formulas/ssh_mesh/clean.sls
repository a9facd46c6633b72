{#- Removes the mesh files; keeps the node's own keypair (removing it would lock out its jobs). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import ssh_mesh with context %}
{%- set home = ssh_mesh.home %}

ssh-mesh-authorized-keys-absent:
  file.absent:
    - name: {{ home }}/.ssh/authorized_keys

ssh-mesh-known-hosts-absent:
  file.absent:
    - name: {{ ssh_mesh.known_hosts_file }}
