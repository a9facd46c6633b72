{#- The TX2 power mode from pillar, where the L4T tool exists (not in containers or VMs). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import gpu_stack with context %}
{%- set mode = gpu_stack.nvpmodel_mode %}
{#- The mode reaches the shell only quoted (a pillar value is never shell code). #}

include:
  - {{ tplroot }}.check

{%- if mode is not none %}

gpu-stack-nvpmodel:
  cmd.run:
    - name: nvpmodel -m {{ mode | string | quote }}
    - onlyif: command -v nvpmodel
    # `nvpmodel -q` ends with the mode number.
    - unless: nvpmodel -q 2>/dev/null | tail -n 1 | grep -qxF -- {{ mode | string | quote }}
    - require:
      - test: gpu-stack-jetpack-matches
{%- endif %}
