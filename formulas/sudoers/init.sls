{#- sudoers drop-ins from pillar, each written only after `visudo -c -f` accepts it. A rule is
    one line of one shape: ALL=(<runas>) [NOPASSWD: ]/abs/command ARG... with an argument list
    ("" for none; sudo then refuses any argument), no wildcard, no sudoers special character. #}
{%- from tpldir ~ "/map.jinja" import sudoers with context %}
{%- set shape = '^ALL=[(](root|[a-z_][a-z0-9_-]*)[)] (NOPASSWD: )?(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)+'
                ~ '( ""|( [A-Za-z0-9_@%+/.-]+)+)$' %}

sudoers-package:
  pkg.installed:
    - name: sudo

{%- for name, rules in sudoers.files | dictsort %}
{%- set key = "pillar sudoers:files:" ~ name %}
{%- if "." in name or "~" in name or "/" in name %}
{{ raise(key ~ ": sudo ignores drop-in names with '.' or '~' (and '/' leaves the directory); rename it") }}
{%- endif %}
{%- if rules is string or rules is mapping or rules is not iterable %}
{{ raise(key ~ ": must be a list of rules, got " ~ (rules | json)) }}
{%- endif %}
{%- for rule in rules %}
{%- if rule is not string or "\n" in rule or "\r" in rule or not (rule | regex_match(shape)) %}
{{ raise(key ~ ", rule " ~ loop.index ~ " " ~ (rule | json) ~ ": not one line of the shape "
         ~ "'ALL=(root) NOPASSWD: /abs/command ARG...' (\"\" for no argument; no wildcard or sudoers "
         ~ "special character)") }}
{%- endif %}
{%- endfor %}
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
