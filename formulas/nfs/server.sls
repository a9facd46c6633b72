{#- NFS master: the SSD at /exports (formatted only if blank and allowed, mounted by its label),
    the NFS server bound to that mount, exports from the table (`mp`: only while mounted). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import nfs with context %}
{%- set server = nfs.server %}
{%- set clients = [server.subnet] if nfs.export_to == "subnet" else server.client_ips %}
{%- set options = (nfs.export_options + ["fsid=" ~ server.fsid]) | join(",") %}
{%- set package = salt["pillar.get"]("cluster:install_package", {}) %}
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
  - {{ tplroot }}.version

nfs-server-packages:
  pkg.installed:
    - pkgs: {{ server.packages | json }}

nfs-server-device:
  cmd.script:
    - source: salt://{{ tplroot }}/files/prepare-device.sh
    - args: {{ ((server.device | quote) ~ " " ~ (server.fs_label | quote) ~ " "
                ~ (server.format_device | string | quote)) | json }}
    - unless: {{ ('test "$(blkid -p -s TYPE -o value ' ~ (server.device | quote) ~ ')" = ext4') | json }}

{#- An SSD formatted before labels (the old installer) gets the label; one labelled otherwise is
    someone else's disk: refused, named. #}
nfs-server-label:
  cmd.run:
    - name: >-
        dev={{ server.device | quote }}; want={{ server.fs_label | quote }};
        label=$(blkid -p -s LABEL -o value "$dev");
        if [ -n "$label" ]; then echo "nfs server: $dev is labelled $label, not $want;
        relabel it (e2label) or set nfs:server:fs_label" >&2; exit 1; fi; e2label "$dev" "$want"
    - unless: {{ ('test "$(blkid -p -s LABEL -o value ' ~ (server.device | quote) ~ ')" = '
                  ~ (server.fs_label | quote)) | json }}
    - require:
      - cmd: nfs-server-device

{#- By label: a missing or replaced SSD leaves /exports unmounted (nofail: the boot goes on). #}
nfs-server-fstab:
  mount.fstab_present:
    - name: LABEL={{ server.fs_label }}
    - fs_file: {{ server.mountpoint }}
    - fs_vfstype: ext4
    - fs_mntops: {{ server.mount_options | join(",") }}
    - fs_passno: 2
    - match_on: name
    - mount: False
    - require:
      - cmd: nfs-server-label

{#- The NFS server starts only with the SSD mounted, and stops when it goes (systemd >= 201). #}
nfs-server-requires-ssd:
  file.managed:
    - name: /etc/systemd/system/{{ server.unit }}.d/jetson-requires-ssd.conf
    - makedirs: True
    - contents:
      - "# Managed by Salt (formula nfs): serve nothing unless the SSD is mounted."
      - "[Unit]"
      - "RequiresMountsFor={{ server.mountpoint }}"
    - require:
      - test: nfs-version-supported

{%- if nfs.mount_now %}
nfs-server-daemon-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: nfs-server-requires-ssd
      - mount: nfs-server-fstab

nfs-server-mount:
  cmd.run:
    - name: {{ ("mkdir -p " ~ (server.mountpoint | quote) ~ " && mount " ~ (server.mountpoint | quote)) | json }}
    - unless: {{ ("mountpoint -q " ~ (server.mountpoint | quote)) | json }}
    - require:
      - mount: nfs-server-fstab
      - cmd: nfs-server-daemon-reload
    - require_in:
      - file: nfs-server-export-root
{%- endif %}

{#- The export root is root's and holds only the directories below (never chown -R a share). #}
nfs-server-export-root:
  file.directory:
    - name: {{ server.mountpoint }}
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - test: nfs-version-supported

{#- The users' data, beside the install package. #}
nfs-server-data-dir:
  file.directory:
    - name: {{ server.mountpoint }}/{{ server.data_dir }}
    - user: {{ nfs.client.owner }}
    - group: {{ nfs.client.owner }}
    - mode: '0755'
    - allow_symlink: False    # a link left by the old user-owned layout: fail, never chown through it
    - require:
      - file: nfs-server-export-root
      - user: cluster-user-account

{%- if package.get("master") == grains.id %}
{#- The install package: root's, read-only to every client (root_squash: remote root too). #}
nfs-server-package-dir:
  file.directory:
    - name: {{ server.mountpoint }}/{{ package.dir }}
    - user: root
    - group: root
    - mode: '0755'
    - allow_symlink: False    # the package tree is root's own directory, never a link the user made
    - require:
      - file: nfs-server-export-root
{%- endif %}

nfs-server-exports:
  file.managed:
    - name: {{ server.exports_file }}
    - contents: {{ exports | json }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: nfs-server-export-root
      - test: nfs-version-supported

{%- if nfs.mount_now %}
nfs-server-service:
  service.running:
    - name: {{ server.service }}
    - enable: True
    - require:
      - test: nfs-version-supported
      - pkg: nfs-server-packages
      - file: nfs-server-exports
      - file: nfs-server-requires-ssd
      - cmd: nfs-server-mount

nfs-server-exportfs:
  cmd.run:
    - name: exportfs -ra
    - onchanges:
      - file: nfs-server-exports
    - require:
      - service: nfs-server-service
{%- endif %}
