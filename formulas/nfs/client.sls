{#- Every node sees master i's export at ~/cloud/<i>: NFS with automount, or a bind on the master itself. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import nfs with context %}
{%- set client = nfs.client %}
{%- set nfs_options = (["nfsvers=" ~ nfs.chosen.version] + client.options) | join(",") %}
{%- set cloud_dir = salt["file.dirname"](client.mounts[0].path) if client.mounts else none %}

include:
  - cluster_user
  - {{ tplroot }}.version

nfs-client-packages:
  pkg.installed:
    - pkgs: {{ client.packages | json }}

{%- if nfs.mount_now %}
{#- NFS v3: the portmapper and statd (locks) run before any mount. #}
{%-   for service in client.services %}
nfs-client-service-{{ service }}:
  service.running:
    - name: {{ service }}
    - require:
      - pkg: nfs-client-packages
      - test: nfs-version-supported
{%-   endfor %}
{%- endif %}

{%- for mount in client.mounts %}
{#- Never stat a mount point that is in use: with its master dead, a hard NFS mount blocks
    the state run for good. /proc/mounts lists it (autofs or nfs) without touching it. #}
nfs-client-mountpoint-{{ mount.index }}:
  file.directory:
    - name: {{ mount.path }}
    - makedirs: True
    - allow_symlink: False    # a link the user planted under ~/cloud: fail, never mount through it
    - unless: grep -qs ' {{ mount.path }} ' /proc/mounts
    - require:
      - file: nfs-client-cloud-dir
      - test: nfs-version-supported

nfs-client-mount-{{ mount.index }}:
  mount.fstab_present:
{%- if mount.bind %}
    - name: {{ nfs.server.mountpoint }}
    - fs_vfstype: none
    - fs_mntops: {{ client.bind_options | join(",") }}
{%- else %}
    - name: {{ mount.server_ip }}:{{ nfs.server.mountpoint }}
    - fs_vfstype: nfs
    - fs_mntops: {{ nfs_options }}
{%- endif %}
    - fs_file: {{ mount.path }}
    - match_on: name
    - mount: False
    - require:
      - file: nfs-client-mountpoint-{{ mount.index }}
      - pkg: nfs-client-packages
      - test: nfs-version-supported

{%- if nfs.mount_now %}
nfs-client-automount-{{ mount.index }}:
  service.running:
    - name: {{ mount.unit }}.automount
    - require:
      - cmd: nfs-client-daemon-reload
{%- endif %}
{%- endfor %}

{#- ~/cloud itself is local and belongs to the user; the mount points below it are left alone. #}
{%- if cloud_dir %}
nfs-client-cloud-dir:
  file.directory:
    - name: {{ cloud_dir }}
    - user: {{ client.owner }}
    - group: {{ client.owner }}
    - mode: '0755'
    - allow_symlink: False    # ~/cloud as a link (e.g. to /root) would be chmod'ed by root: fail
    - require:
      - file: cluster-user-home
{%- endif %}

{%- if nfs.mount_now and client.mounts %}
nfs-client-daemon-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
{%- for mount in client.mounts %}
      - mount: nfs-client-mount-{{ mount.index }}
{%- endfor %}
{%- endif %}
