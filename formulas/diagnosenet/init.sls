{#- The workload: DiagnoseNET at its pinned revision, and its energy capture root-owned on local
    disk: the board's tegrastats, the wrapper sudoers allows (no argument), the recorder that
    calls it by its absolute path. Goes with the GPU stack (same switch). #}
{%- set tplroot = tpldir.split("/")[0] %}
{#- Another formula's map: by its path (tplroot is this formula's). #}
{%- from "gpu_stack/map.jinja" import gpu_stack with context %}
{%- from tplroot ~ "/map.jinja" import diagnosenet with context %}
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

{%- endif %}{#- checkout #}
{%- set capture = diagnosenet.capture %}
{%- set dirs = [capture.tegrastats, capture.wrapper, capture.recorder] | map("regex_replace", "/[^/]*$", "")
                | unique | sort %}
{%- for dir in dirs %}

diagnosenet-capture-dir-{{ loop.index }}:
  file.directory:
    - name: {{ dir }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True
    - require:
      - test: gpu-stack-jetpack-matches
{%- endfor %}

diagnosenet-capture-tegrastats:
  file.managed:
    - name: {{ capture.tegrastats }}
    - source: {{ capture.tegrastats_source }}
    - user: root
    - group: root
    - mode: '0755'
    - require:
{%- for dir in dirs %}
      - file: diagnosenet-capture-dir-{{ loop.index }}
{%- endfor %}
{%- if capture.source_in_checkout | default(False) %}
      - {{ "git" if diagnosenet.source and diagnosenet.revision else "test" }}: diagnosenet-checkout
{%- endif %}

{%- for key, template in [("wrapper", "tegrastats-root.sh.jinja"),
                          ("recorder", "enerGyPU_record-jetson.sh.jinja")] %}

diagnosenet-capture-{{ key }}:
  file.managed:
    - name: {{ capture[key] }}
    - source: salt://{{ tplroot }}/files/{{ template }}
    - template: jinja
    - context:
        tegrastats: {{ capture.tegrastats }}
        wrapper: {{ capture.wrapper }}
    - user: root
    - group: root
    - mode: '0755'
    - require:
{%- for dir in dirs %}
      - file: diagnosenet-capture-dir-{{ loop.index }}
{%- endfor %}
{%- endfor %}
{%- endif %}{#- gpu_stack.active #}
