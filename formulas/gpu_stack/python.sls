{#- Python 3.6 from the source pillar names, the workload's virtualenv with pip pinned, and the
    TensorFlow wheel + the workload's pinned wheels installed offline, all from the verified
    root-owned copies of install_package.verify (gpu_stack.local_dir), never from the share. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import gpu_stack, jp, manifest with context %}
{%- set dir = gpu_stack.local_dir %}
{%- set py = jp.python %}
{%- set source = salt["install_package.python_source"](gpu_stack, gpu_stack.jetpack | string) %}
{%- set venv_python = gpu_stack.venv ~ "/bin/python" %}
{%- set cache = gpu_stack.wheel_cache %}
{%- set wheels = manifest | selectattr("role", "in", ["pip-wheel", "tensorflow-wheel", "wheel"]) | list %}
{%- set pip = (wheels | selectattr("role", "equalto", "pip-wheel") | list)[0] %}
{%- set pip_version = pip.requirement.split("==")[1] %}

include:
  - {{ tplroot }}.check
  - {{ tplroot }}.mpi

{%- if source.kind == "debs" %}

gpu-stack-python:
  pkg.installed:
    - sources:
{%- for deb in source.debs %}
      - {{ deb.package }}: {{ dir }}/{{ deb.file }}
{%- endfor %}
    - require:
      - module: gpu-stack-install-package-verified
{%- else %}
{%- if source.get("repo") %}

gpu-stack-python-repo:
  pkgrepo.managed:
    - name: {{ source.repo }}
    - file: /etc/apt/sources.list.d/jetson-python.list
{%- if source.get("key_url") %}
    - key_url: {{ source.key_url }}
{%- endif %}
    - require:
      - module: gpu-stack-install-package-verified
    - require_in:
      - pkg: gpu-stack-python
{%- endif %}

gpu-stack-python:
  pkg.installed:
    - pkgs: {{ source.packages | json }}
    - require:
      - module: gpu-stack-install-package-verified
{%- endif %}

{#- --without-pip: pip comes from the pinned wheel below, not from ensurepip. #}
gpu-stack-venv:
  cmd.run:
    - name: {{ py.interpreter }} -m venv --without-pip {{ gpu_stack.venv }}
    - creates: {{ venv_python }}
    - require:
      - pkg: gpu-stack-python

gpu-stack-wheel-cache:
  file.directory:
    - name: {{ cache }}
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - module: gpu-stack-install-package-verified

{%- for wheel in wheels %}
{%- set name = wheel.file.split("/") | last %}

gpu-stack-wheel-{{ name }}:
  file.managed:
    - name: {{ cache }}/{{ name }}
    - source: {{ dir }}/{{ wheel.file }}
{%- if wheel.sha256 %}
    - source_hash: sha256={{ wheel.sha256 }}
{%- endif %}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: gpu-stack-wheel-cache
    - require_in:
      - pip: gpu-stack-python-packages
{%- endfor %}

gpu-stack-pip:
  cmd.run:
    - name: >-
        {{ venv_python }} {{ cache }}/{{ pip.file.split("/") | last }}/pip install --quiet
        --no-index --find-links {{ cache }} {{ pip.requirement }}
    - unless: {{ venv_python }} -m pip --version | grep -q '^pip {{ pip_version }} '
    - require:
      - cmd: gpu-stack-venv
      - file: gpu-stack-wheel-{{ pip.file.split("/") | last }}

gpu-stack-python-packages:
  pip.installed:
    - pkgs: {{ wheels | rejectattr("role", "equalto", "pip-wheel") | selectattr("requirement")
               | map(attribute="requirement") | list | json }}
    - bin_env: {{ gpu_stack.venv }}
    - no_index: True
    - find_links: {{ cache }}
    - require:
      - cmd: gpu-stack-pip
      - pkg: gpu-stack-mpi
