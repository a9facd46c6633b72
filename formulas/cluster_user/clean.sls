{#- Removes the account but never its home: it holds the NFS mount points and user data. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import cluster_user as u with context %}

cluster-user-account-absent:
  user.absent:
    - name: {{ u.name }}
    - purge: False
