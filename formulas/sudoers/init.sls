{#- sudoers drop-ins from pillar, each written only after `visudo -c -f` accepts it. The pillar
    schema (salt/_modules/pillar_schema.py, checked by map.jinja) admits a rule only as one line
    ALL=(<runas>) [NOPASSWD: ]/abs/command ARG... with an argument list ("" for none: sudo then
    refuses any argument), no wildcard, no sudoers special character; drop-in names without '.'. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import sudoers with context %}

sudoers-package:
  pkg.installed:
    - name: sudo

{%- for name, rules in sudoers.files | dictsort %}
sudoers-dropin-{{ name }}:
  file.managed:
    - name: {{ sudoers.dir }}/{{ name }}
    - contents: {{ (["# Managed by Salt (formula sudoers): local edits are overwritten."]
                    + rules | map("regex_replace", "^", sudoers.user ~ " ") | list) | json }}
    - user: root
    - group: root
    - mode: '0440'
    - check_cmd: {{ sudoers.visudo }} -c -f
    - require:
      - pkg: sudoers-package
{%- endfor %}
