{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import swap with context %}
swap-off:
  cmd.run:
    - name: swapoff {{ swap.file | quote }}
    - onlyif: cut -d' ' -f1 /proc/swaps | grep -qxF -- {{ swap.file | quote }}

swap-fstab-absent:
  mount.fstab_absent:
    - name: {{ swap.file }}
    - fs_file: none

swap-file-absent:
  file.absent:
    - name: {{ swap.file }}
    - require:
      - cmd: swap-off
