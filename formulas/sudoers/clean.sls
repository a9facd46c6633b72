{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import sudoers with context %}
{%- for name in sudoers.files %}
sudoers-dropin-{{ name }}-absent:
  file.absent:
    - name: {{ sudoers.dir }}/{{ name }}
{%- endfor %}
