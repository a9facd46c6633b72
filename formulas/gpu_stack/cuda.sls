{#- CUDA from the install package's local repo deb, cuDNN debs, and the environment that finds them.
    Debs come from the verified root-owned copies (gpu_stack.local_dir), never from the share. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import gpu_stack, jp, manifest with context %}
{%- set dir = gpu_stack.local_dir %}
{%- set cuda = jp.cuda %}
{%- set repo_debs = manifest | selectattr("role", "equalto", "cuda-repo") | list %}
{%- set keyring = gpu_stack.apt_keyring_dir ~ "/" ~ repo_debs[0].package ~ ".gpg" %}

include:
  - {{ tplroot }}.check

gpu-stack-cuda-repo-deb:
  pkg.installed:
    - sources:
{%- for deb in repo_debs %}
      - {{ deb.package }}: {{ dir }}/{{ deb.file }}
{%- endfor %}
    - require:
      - module: gpu-stack-install-package-verified

gpu-stack-key-packages:
  pkg.installed:
    - pkgs: {{ gpu_stack.key_packages | json }}
    - require:
      - module: gpu-stack-install-package-verified

{#- The repo deb ships its signing key; apt trusts it once it is in trusted.gpg.d (binary form). #}
gpu-stack-cuda-repo-key:
  cmd.run:
    - name: >-
        gpg --batch --dearmor < {{ cuda.repo_key }} > {{ keyring }}.new
        && chmod 0644 {{ keyring }}.new && mv {{ keyring }}.new {{ keyring }}
    - onlyif: test -f {{ cuda.repo_key }}
    - unless: gpg --batch --dearmor < {{ cuda.repo_key }} | cmp -s - {{ keyring }}
    - require:
      - pkg: gpu-stack-cuda-repo-deb
      - pkg: gpu-stack-key-packages

gpu-stack-apt-update:
  cmd.run:
    - name: apt-get update
    - onchanges:
      - pkg: gpu-stack-cuda-repo-deb
      - cmd: gpu-stack-cuda-repo-key

gpu-stack-cuda-toolkit:
  pkg.installed:
    - name: {{ cuda.toolkit_package }}
    - refresh: False
    - require:
      - cmd: gpu-stack-apt-update
      - cmd: gpu-stack-cuda-repo-key

gpu-stack-cudnn:
  pkg.installed:
    - sources:
{%- for deb in manifest if deb.role == "cudnn" %}
      - {{ deb.package }}: {{ dir }}/{{ deb.file }}
{%- endfor %}
    - require:
      - pkg: gpu-stack-cuda-toolkit

{#- A file of an installed cuDNN package deleted or changed (dpkg --verify, dpkg >= 1.17.2;
    xenial has 1.18.4): pkg.installed sees the package as installed and would leave it, so the
    debs are installed again from the verified copies and a re-apply repairs the node. Its exit
    status says nothing (0 with files missing), its output does; documentation is left out (a
    dpkg path-exclude of /usr/share/doc, as minimal images and the lab have, reads as missing). #}
{%- set cudnn = manifest | selectattr("role", "equalto", "cudnn") | list %}
gpu-stack-cudnn-verified:
  cmd.run:
    - name: dpkg -i {% for deb in cudnn %}{{ (dir ~ "/" ~ deb.file) | quote }} {% endfor %}
    - unless: test -z "$(dpkg --verify {% for deb in cudnn %}{{ deb.package | quote }} {% endfor %}| grep -v ' /usr/share/doc/')"
    - require:
      - pkg: gpu-stack-cudnn

gpu-stack-cuda-link:
  file.symlink:
    - name: {{ gpu_stack.cuda_link }}
    - target: {{ cuda.home }}
    - require:
      - pkg: gpu-stack-cuda-toolkit

gpu-stack-cuda-profile:
  file.managed:
    - name: {{ gpu_stack.profile_file }}
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by Salt (formula gpu_stack): CUDA {{ cuda.version }} tools for login shells.
        export CUDA_HOME={{ gpu_stack.cuda_link }}
        case ":$PATH:" in
          *":{{ gpu_stack.cuda_link }}/bin:"*) ;;
          *) PATH="{{ gpu_stack.cuda_link }}/bin:$PATH" ;;
        esac
        export PATH
    - require:
      - file: gpu-stack-cuda-link

gpu-stack-cuda-ldconf:
  file.managed:
    - name: {{ gpu_stack.ldconf_file }}
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by Salt (formula gpu_stack): CUDA {{ cuda.version }} libraries.
        {{ gpu_stack.cuda_link }}/lib64
    - require:
      - file: gpu-stack-cuda-link

gpu-stack-ldconfig:
  cmd.run:
    - name: ldconfig
    - onchanges:
      - file: gpu-stack-cuda-ldconf
      - file: gpu-stack-cuda-link
      - pkg: gpu-stack-cuda-toolkit
      - pkg: gpu-stack-cudnn
      - cmd: gpu-stack-cudnn-verified
