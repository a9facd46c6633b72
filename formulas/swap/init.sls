{#- A swap file made once, with its fstab entry, active. A file of the wrong size is reported, never replaced live. #}
{%- from tpldir ~ "/map.jinja" import swap with context %}
{%- set bytes = swap.size_mb * 1024 * 1024 %}

swap-file:
  cmd.run:
    - name: >-
        umask 077 && fallocate -l {{ bytes }} {{ swap.file }}.new && mkswap {{ swap.file }}.new
        && mv {{ swap.file }}.new {{ swap.file }}
    - creates: {{ swap.file }}

swap-file-size:
  cmd.run:
    - name: >-
        echo "swap: {{ swap.file }} has $(stat -c %s {{ swap.file }}) bytes, pillar swap:size_mb
        wants {{ bytes }}; run 'swapoff {{ swap.file }} && rm {{ swap.file }}' and re-apply" >&2; exit 1
    - unless: test "$(stat -c %s {{ swap.file }})" = {{ bytes }}
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
    - name: swapon {{ swap.file }}
    - unless: grep -q '^{{ swap.file }} ' /proc/swaps
    - require:
      - mount: swap-fstab
      - file: swap-file-mode
{%- endif %}
