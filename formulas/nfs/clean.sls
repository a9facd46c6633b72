{#- Removes the client fstab entries and the exports; never touches the data on the SSD. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import nfs with context %}
{%- for mount in nfs.client.mounts %}
nfs-client-mount-{{ mount.index }}-absent:
  mount.unmounted:
    - name: {{ mount.path }}
    - persist: True
{%- endfor %}
{%- if nfs.server.enabled %}
nfs-server-exports-absent:
  file.absent:
    - name: {{ nfs.server.exports_file }}
{%- endif %}
