{#- A swap file made once, with its fstab entry, active. A file of the wrong size is reported, never replaced live. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import swap with context %}
{%- if swap.size_mb is not integer or swap.size_mb is boolean %}
{{ raise("pillar swap:size_mb must be an integer (MiB), got " ~ swap.size_mb | string | tojson) }}
{%- endif %}
{%- set bytes = swap.size_mb * 1024 * 1024 %}
{%- set file = swap.file | quote %}
{%- set new = (swap.file ~ ".new") | quote %}

swap-file:
  cmd.run:
    - name: >-
        umask 077 && fallocate -l {{ bytes }} {{ new }} && mkswap {{ new }}
        && mv {{ new }} {{ file }}
    - creates: {{ swap.file }}

swap-file-size:
  cmd.run:
    - name: >-
        echo "swap: "{{ file }}" has $(stat -c %s {{ file }}) bytes, pillar swap:size_mb
        wants {{ bytes }}; run swapoff and rm on it, then re-apply" >&2; exit 1
    - unless: test "$(stat -c %s {{ file }})" = {{ bytes }}
    - require:
      - cmd: swap-file

swap-file-mode:
  file.managed:
    - name: {{ swap.file }}
    - replace: False
    - user: root
    - group: root
    - mode: '0600'
    - require:
      - cmd: swap-file

swap-fstab:
  mount.fstab_present:
    - name: {{ swap.file }}
    - fs_file: none
    - fs_vfstype: swap
    - fs_mntops: sw
    - match_on: device
    - mount: False
    - require:
      - cmd: swap-file-size

{%- if swap.activate %}
swap-on:
  cmd.run:
    - name: swapon {{ file }}
    - unless: cut -d' ' -f1 /proc/swaps | grep -qxF -- {{ file }}
    - require:
      - mount: swap-fstab
      - file: swap-file-mode
{%- endif %}
