{#- Undo diagnosenet: the capture files and the checkout (packages stay; directories stay, they
    may be shared). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import diagnosenet with context %}

diagnosenet-clean:
  file.absent:
    - names:
      - {{ diagnosenet.capture.recorder }}
      - {{ diagnosenet.capture.wrapper }}
      - {{ diagnosenet.capture.tegrastats }}
      - {{ diagnosenet.target }}
