{#- Hostname and /etc/hosts, both from the node table: one naming scheme everywhere. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import hosts with context %}
{%- if not hosts.hostname %}
{{ raise("pillar hosts:hostname is empty: is this minion in the node table?") }}
{%- endif %}

hosts-hostname-file:
  file.managed:
    - name: /etc/hostname
    - contents: {{ hosts.hostname | yaml_dquote }}

hosts-hostname-live:
  cmd.run:
    - name: hostname {{ hosts.hostname | quote }}
    - unless: test "$(hostname)" = {{ hosts.hostname | quote }}
    - require:
      - file: hosts-hostname-file

{%- set lines = ["# Managed by Salt (formula hosts) from the node table: local edits are overwritten."]
                + hosts.local_lines %}
{%- for entry in hosts.entries %}
{%-   do lines.append(entry.ip ~ " " ~ entry.name) %}
{%- endfor %}
{#- Kept besides the table's (a whole file): e.g. the salt-master; IPv4 + host names checked by the
    module, a table name refused (it resolves to its table IP only); a bad entry stops the render. #}
{%- set extra = salt["ssh_mesh.extra_hosts"](hosts.extra_entries, hosts.entries | map(attribute="name") | list) %}
{%- if extra %}
{%-   do lines.extend(["# pillar hosts:extra_entries"] + extra) %}
{%- endif %}
hosts-file:
  file.managed:
    - name: {{ hosts.file }}
    - contents: {{ lines | json }}
    - user: root
    - group: root
    - mode: '0644'
