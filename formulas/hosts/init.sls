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

{%- set lines = [hosts.marker] + hosts.local_lines + hosts.table_lines + hosts.extra_lines %}
hosts-file:
  file.managed:
    - name: {{ hosts.file }}
    - contents: {{ lines | json }}
    - user: root
    - group: root
    - mode: '0644'
