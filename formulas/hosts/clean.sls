{#- Undo hosts in place: /etc/hosts is a shared system file, so it is never removed or emptied.
    Only the lines the formula wrote that nothing else needs go: its marker, the table's other
    nodes and the extra entries. The loopback lines (local_lines) stay, and so do the hostname
    (/etc/hostname: renaming a node live would break its jobs and its Salt id) and the node's own
    line, so that the name it keeps still resolves (sudo, MPI, Salt). A line an operator added
    since stays. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import hosts with context %}
{%- set own = hosts.entries | selectattr("name", "equalto", hosts.hostname)
              | map(attribute="ip") | map("regex_replace", "$", " " ~ hosts.hostname) | list %}
{%- set lines = [hosts.marker] + (hosts.table_lines | reject("in", own) | list) + hosts.extra_lines %}

hosts-clean-file:
  file.replace:
    - name: {{ hosts.file }}
    - pattern: {{ ("^(?:" ~ (lines | map("regex_escape") | join("|")) ~ ")$\n?") | json }}
    - repl: ''
    - ignore_if_missing: True
