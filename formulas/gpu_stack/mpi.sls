{#- An MPI library: mpi4py (DiagnoseNET imports it at load) links against Open MPI. #}
{%- from "gpu_stack/map.jinja" import gpu_stack with context %}

include:
  - gpu_stack.check

gpu-stack-mpi:
  pkg.installed:
    - pkgs: {{ gpu_stack.mpi_packages | json }}
    - require:
      - module: gpu-stack-install-package-verified
