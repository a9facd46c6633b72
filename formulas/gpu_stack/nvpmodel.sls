{#- The TX2 power mode from pillar, where the L4T tool exists (not in containers or VMs). #}
{%- from "gpu_stack/map.jinja" import gpu_stack with context %}
{%- set mode = gpu_stack.nvpmodel_mode %}

include:
  - gpu_stack.check

{%- if mode is not none %}

gpu-stack-nvpmodel:
  cmd.run:
    - name: nvpmodel -m {{ mode }}
    - onlyif: command -v nvpmodel
    # `nvpmodel -q` ends with the mode number.
    - unless: nvpmodel -q 2>/dev/null | tail -n 1 | grep -qx '{{ mode }}'
    - require:
      - test: gpu-stack-jetpack-matches
{%- endif %}
