{#- The gate every GPU state requires: the flashed L4T matches pillar's JetPack, and the install
    package on the NFS share is present and matches its manifest. install_package.verify copies
    each artifact into a root-owned local directory and hashes the copy; the states install
    only from those copies, never from the share. A failure here changes nothing. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import gpu_stack with context %}
{#- Another formula's map: by its path (tplroot is this formula's). #}
{%- from "nfs/map.jinja" import nfs with context %}
{%- set platform = salt["jetpack.check"](gpu_stack, grains.get("tegra", {}), grains.id) %}
{%- set package_mounts = nfs.client.mounts | selectattr("path", "equalto", gpu_stack.package_mount) | list %}

include:
  - nfs.client

gpu-stack-jetpack-matches:
  test.{{ "succeed_without_changes" if platform.result else "fail_without_changes" }}:
    - name: gpu_stack L4T/JetPack check
    - comment: {{ platform.comment | yaml_dquote }}

{%- if not package_mounts %}

gpu-stack-install-package-verified:
  test.fail_without_changes:
    - name: gpu_stack install package
    - comment: {{ ("node " ~ grains.id ~ ": gpu_stack:package_mount " ~ gpu_stack.package_mount
                   ~ " is not one of pillar nfs:client:mounts") | yaml_dquote }}
{%- else %}
{%- set mount = package_mounts[0] %}

gpu-stack-install-package-verified:
  module.run:
    - install_package.verify:
      - directory: {{ gpu_stack.package_dir | yaml_dquote }}
      - jetpack: {{ gpu_stack.jetpack | string | yaml_dquote }}
      - local: {{ gpu_stack.local_dir | yaml_dquote }}
    # Quiet when every local copy is verified (no change, nothing read on the share on re-apply).
    - unless:
      - fun: install_package.ok
        directory: {{ gpu_stack.package_dir | yaml_dquote }}
        jetpack: {{ gpu_stack.jetpack | string | yaml_dquote }}
        local: {{ gpu_stack.local_dir | yaml_dquote }}
    - require:
      - test: gpu-stack-jetpack-matches
      - mount: nfs-client-mount-{{ mount.index }}
{%- if nfs.mount_now %}
      - service: nfs-client-automount-{{ mount.index }}
{%- endif %}
{%- endif %}
