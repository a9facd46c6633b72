{#- NFS master: the SSD at /exports (formatted only if blank and allowed), exports from the table. #}
{%- from tpldir ~ "/map.jinja" import nfs with context %}
{%- set server = nfs.server %}
{%- set clients = [server.subnet] if nfs.export_to == "subnet" else server.client_ips %}
{%- set options = (nfs.export_options + ["fsid=" ~ server.fsid]) | join(",") %}
{#- One client per line, joined by exports(5) line continuations. #}
{%- set exports = ["# Managed by Salt (formula nfs) from the node table: local edits are overwritten.",
                   server.mountpoint ~ " \\"] %}
{%- for client in clients %}
{%-   do exports.append("    " ~ client ~ "(" ~ options ~ ")" ~ ("" if loop.last else " \\")) %}
{%- endfor %}
{%- if not server.device %}
{{ raise("nfs server on " ~ grains.id ~ ": no ssd device in the node table") }}
{%- endif %}

include:
  - cluster_user

nfs-server-packages:
  pkg.installed:
    - pkgs: {{ server.packages | json }}

nfs-server-device:
  cmd.script:
    - source: salt://{{ tpldir }}/files/prepare-device.sh
    - args: {{ server.device }} {{ server.fs_label }} {{ server.format_device }}
    - unless: test "$(blkid -p -s TYPE -o value {{ server.device }})" = ext4

nfs-server-fstab:
  mount.fstab_present:
    - name: {{ server.device }}
    - fs_file: {{ server.mountpoint }}
    - fs_vfstype: ext4
    - fs_mntops: {{ server.mount_options | join(",") }}
    - fs_passno: 2
    - match_on: name
    - mount: False
    - require:
      - cmd: nfs-server-device

{%- if nfs.mount_now %}
nfs-server-mount:
  cmd.run:
    - name: mkdir -p {{ server.mountpoint }} && mount {{ server.mountpoint }}
    - unless: mountpoint -q {{ server.mountpoint }}
    - require:
      - mount: nfs-server-fstab
    - require_in:
      - file: nfs-server-export-root
{%- endif %}

{#- The root of the export belongs to the cluster user (not recursive: never chown -R a share). #}
nfs-server-export-root:
  file.directory:
    - name: {{ server.mountpoint }}
    - user: {{ nfs.client.owner }}
    - group: {{ nfs.client.owner }}
    - mode: '0755'
    - require:
      - user: cluster-user-account

nfs-server-exports:
  file.managed:
    - name: {{ server.exports_file }}
    - contents: {{ exports | json }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: nfs-server-export-root

{%- if nfs.mount_now %}
nfs-server-service:
  service.running:
    - name: {{ server.service }}
    - enable: True
    - require:
      - pkg: nfs-server-packages
      - file: nfs-server-exports

nfs-server-exportfs:
  cmd.run:
    - name: exportfs -ra
    - onchanges:
      - file: nfs-server-exports
    - require:
      - service: nfs-server-service
{%- endif %}
