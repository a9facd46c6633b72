# Every node gets the site state; salt/site/init.sls composes the formulas by the node's
# roles in the node table (pillar `node`).
base:
  '*':
    - site
