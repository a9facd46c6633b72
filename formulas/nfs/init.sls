include:
  - {{ tpldir }}.client
{%- if salt["pillar.get"]("nfs:server:enabled") %}
  - {{ tpldir }}.server
{%- endif %}
