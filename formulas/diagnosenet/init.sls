{#- The workload: DiagnoseNET at its pinned revision, the enerGyPU capture tools that sudoers
    names installed root-owned on local disk, and iftop. Goes with the GPU stack (same switch). #}
{%- from "gpu_stack/map.jinja" import gpu_stack with context %}
{%- from "diagnosenet/map.jinja" import diagnosenet with context %}
{%- if gpu_stack.active %}

include:
  - gpu_stack.check

diagnosenet-packages:
  pkg.installed:
    - pkgs: {{ diagnosenet.packages | json }}
    - require:
      - test: gpu-stack-jetpack-matches

{%- if not (diagnosenet.source and diagnosenet.revision) %}

diagnosenet-checkout:
  test.fail_without_changes:
    - name: diagnosenet checkout
    - comment: "pillar diagnosenet:source and diagnosenet:revision must both be set (pillar/gpu.sls)"
{%- else %}

diagnosenet-checkout:
  git.latest:
    - name: {{ diagnosenet.source }}
    - rev: {{ diagnosenet.revision }}
    - target: {{ diagnosenet.target }}
    - user: root
    - submodules: {{ diagnosenet.submodules }}
    - force_reset: True
    - require:
      - pkg: diagnosenet-packages
{%- if diagnosenet.in_package %}
      - module: gpu-stack-install-package-verified
{%- endif %}

{%- for dir in [salt["file.dirname"](diagnosenet.tools_dir), diagnosenet.tools_dir] %}

diagnosenet-tools-dir-{{ loop.index }}:
  file.directory:
    - name: {{ dir }}
    - user: root
    - group: root
    - mode: '0755'
    - require:
{%- if loop.index > 1 %}
      - file: diagnosenet-tools-dir-{{ loop.index - 1 }}
{%- else %}
      - test: gpu-stack-jetpack-matches
{%- endif %}
{%- endfor %}

{%- for name, path in diagnosenet.tools | dictsort %}

diagnosenet-tool-{{ name }}:
  file.managed:
    - name: {{ diagnosenet.tools_dir }}/{{ name }}
    - source: {{ diagnosenet.target }}/{{ path }}
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - git: diagnosenet-checkout
      - file: diagnosenet-tools-dir-2
{%- endfor %}
{%- endif %}{#- checkout #}
{%- endif %}{#- gpu_stack.active #}
