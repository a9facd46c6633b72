{#- The NFS version check every fstab entry, export and NFS service requires: a version a kernel
    cannot do (pillar pin, or no common version) fails here, naming node, version and what the
    kernels offer, and nothing of NFS changes on the node (never a hung or half-written mount). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import nfs with context %}
nfs-version-supported:
{%- if nfs.chosen.error %}
  test.fail_without_changes:
    - comment: {{ nfs.chosen.error | json }}
{%- else %}
  test.succeed_without_changes:
    - comment: {{ ("NFS " ~ nfs.chosen.version ~ " (" ~ nfs.chosen.why ~ ")") | json }}
{%- endif %}
