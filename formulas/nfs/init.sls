{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import nfs with context %}

include:
  - {{ tplroot }}.client
{%- if nfs.server.enabled %}
  - {{ tplroot }}.server
{%- endif %}
