{#- The cluster user: pinned uid/gid (NFS ownership depends on it), exactly its groups (sudo only
    by pillar choice), shell, locked password. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import cluster_user as u with context %}
{%- set existing = salt["user.info"](u.name) %}
{%- set home = u.home %}

cluster-user-packages:
  pkg.installed:
    - pkgs: {{ u.packages | json }}

{%- if existing and (existing.uid != u.uid or existing.gid != u.gid) %}
{#- usermod -u would chown the whole home, NFS shares under ~/cloud included: refuse. #}
cluster-user-uid-guard:
  test.fail_without_changes:
    - name: cluster_user uid/gid guard
    - comment: >-
        user {{ u.name }} exists with uid {{ existing.uid }} gid {{ existing.gid }} but the node
        table pins uid {{ u.uid }} gid {{ u.gid }}; unmount {{ home }}/cloud/* and migrate it by
        hand (see docs/operations.md): usermod would chown the NFS shares
    - require_in:
      - user: cluster-user-account
{%- endif %}

cluster-user-group:
  group.present:
    - name: {{ u.name }}
    - gid: {{ u.gid }}

cluster-user-account:
  user.present:
    - name: {{ u.name }}
    - uid: {{ u.uid }}
    - gid: {{ u.gid }}
    - groups: {{ u.all_groups | json }}
    - remove_groups: True
    - shell: {{ u.shell }}
    - home: {{ home }}
    - createhome: True
{%- if u.password_hash %}
    - password: {{ u.password_hash | json }}
{%- endif %}
    - require:
      - pkg: cluster-user-packages
      - group: cluster-user-group

cluster-user-home:
  file.directory:
    - name: {{ home }}
    - user: {{ u.name }}
    - group: {{ u.name }}
    - mode: '{{ u.home_mode }}'
    - require:
      - user: cluster-user-account

{%- if not u.password_hash %}
cluster-user-password-locked:
  cmd.run:
    - name: passwd -l {{ u.name }}
    - unless: test "$(passwd -S {{ u.name }} | cut -d' ' -f2)" = L
    - require:
      - user: cluster-user-account
{%- endif %}

{%- for account in u.lock_accounts if salt["user.info"](account) %}

cluster-user-stock-account-locked-{{ account }}:
  cmd.run:
    - name: passwd -l {{ account | quote }}
    - unless: test "$(passwd -S {{ account | quote }} | cut -d' ' -f2)" = L
{%- endfor %}
