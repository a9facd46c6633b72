{#- Undo gpu_stack: the environment files, the virtualenv, the wheel cache, the verified local
    copies of the install package, the CUDA link and the packages installed from the install
    package. Distribution packages (Open MPI, gnupg) and the Python debs stay: other software
    may use them. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import gpu_stack, jp, manifest with context %}

gpu-stack-clean-files:
  file.absent:
    - names:
      - {{ gpu_stack.profile_file }}
      - {{ gpu_stack.ldconf_file }}
      - {{ gpu_stack.venv }}
      - {{ gpu_stack.wheel_cache }}
      - {{ gpu_stack.local_dir }}

gpu-stack-clean-cuda-link:
  file.absent:
    - name: {{ gpu_stack.cuda_link }}
    - onlyif: test -L {{ gpu_stack.cuda_link }}

{%- if jp %}
{%- set repo_debs = manifest | selectattr("role", "equalto", "cuda-repo") | list %}

gpu-stack-clean-packages:
  pkg.removed:
    - pkgs: {{ ([jp.cuda.toolkit_package]
                + (manifest | selectattr("role", "in", ["cudnn", "cuda-repo"])
                   | map(attribute="package") | list)) | json }}

gpu-stack-clean-repo-key:
  file.absent:
    - name: {{ gpu_stack.apt_keyring_dir }}/{{ repo_debs[0].package }}.gpg
{%- endif %}

gpu-stack-clean-ldconfig:
  cmd.run:
    - name: ldconfig
    - onchanges:
      - file: gpu-stack-clean-files
      - file: gpu-stack-clean-cuda-link
