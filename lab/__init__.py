"""The lab: the astro cluster on this machine, as systemd-nspawn containers (lab/containers/)
or qemu VMs (lab/vm/), sharing lab/common/; data in lab/files/.

Entry point: ``python -m lab [vm] {up,apply,validate,down,demo,bench}`` (lab/cli.py;
docs/lab.md, docs/vm-lab.md).
"""
