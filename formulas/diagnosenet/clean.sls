{#- Undo diagnosenet: the capture tools and the checkout (iftop and git stay). #}
{%- from "diagnosenet/map.jinja" import diagnosenet with context %}

diagnosenet-clean:
  file.absent:
    - names:
      - {{ salt["file.dirname"](diagnosenet.tools_dir) }}
      - {{ diagnosenet.target }}
