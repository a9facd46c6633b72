{#- The GPU stack: CUDA, cuDNN, Python 3.6, TensorFlow and the workload's prerequisites, MPI and
    the power mode, from the install package on the NFS share. Nothing on a gpu: false node
    unless pillar gpu_stack:install_without_gpu is true. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import gpu_stack with context %}
{%- if gpu_stack.active %}

include:
  - {{ tplroot }}.check
{%- if gpu_stack.jetpacks.get(gpu_stack.jetpack | string) %}
  - {{ tplroot }}.cuda
  - {{ tplroot }}.mpi
  - {{ tplroot }}.python
  - {{ tplroot }}.nvpmodel
{%- endif %}
{%- endif %}
