{#- Hostname and /etc/hosts, both from the node table: one naming scheme everywhere. #}
{%- from tpldir ~ "/map.jinja" import hosts with context %}
{%- if not hosts.hostname %}
{{ raise("pillar hosts:hostname is empty: is this minion in the node table?") }}
{%- endif %}

hosts-hostname-file:
  file.managed:
    - name: /etc/hostname
    - contents: {{ hosts.hostname }}

hosts-hostname-live:
  cmd.run:
    - name: hostname {{ hosts.hostname }}
    - unless: test "$(hostname)" = "{{ hosts.hostname }}"
    - require:
      - file: hosts-hostname-file

{%- set lines = ["# Managed by Salt (formula hosts) from the node table: local edits are overwritten."]
                + hosts.local_lines %}
{%- for entry in hosts.entries %}
{%-   do lines.append(entry.ip ~ " " ~ entry.name) %}
{%- endfor %}
hosts-file:
  file.managed:
    - name: {{ hosts.file }}
    - contents: {{ lines | json }}
    - user: root
    - group: root
    - mode: '0644'
