{#- An MPI library: mpi4py (DiagnoseNET imports it at load) links against Open MPI. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import gpu_stack with context %}

include:
  - {{ tplroot }}.check

gpu-stack-mpi:
  pkg.installed:
    - pkgs: {{ gpu_stack.mpi_packages | json }}
    - require:
      - module: gpu-stack-install-package-verified
