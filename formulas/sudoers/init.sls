{#- sudoers drop-ins from pillar, each written only after `visudo -c -f` accepts it. #}
{%- from tpldir ~ "/map.jinja" import sudoers with context %}

sudoers-package:
  pkg.installed:
    - name: sudo

{%- for name, rules in sudoers.files | dictsort %}
{%- if "." in name or "~" in name %}
{{ raise("sudoers:files:" ~ name ~ ": sudo ignores drop-in names with '.' or '~'; rename it") }}
{%- endif %}
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
