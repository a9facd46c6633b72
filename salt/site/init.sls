{#- The astro node: formulas composed by the node's roles in the node table. #}
{%- set node = salt["pillar.get"]("node", {}) %}
{%- if not node %}
{{ raise("minion " ~ grains.id ~ ": pillar has no `node`; is pillar/cluster.sls in the pillar top?") }}
{%- endif %}
{#- Every pillar value that reaches a file or a shell, checked before any state renders. #}
{%- include "site/schema.jinja" %}
{%- set gpu_stack = node.gpu or salt["pillar.get"]("gpu_stack:install_without_gpu", False) %}
include:
  - cluster_user
  - hosts
  - ssh_mesh
  - sudoers
  - swap
  - nfs.client
{%- if "nfs_server" in node.roles %}
  - nfs.server
{%- endif %}
{%- if gpu_stack %}
  - gpu_stack
  - diagnosenet
{%- endif %}
