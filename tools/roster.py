"""The salt-ssh roster, generated from the node table (never written by hand).

One entry per table node: the target id is the table name (``astro7``), the host is the
table IP, and the login settings (user, key, sudo) come from the command line. Relenv mode
(salt-ssh ships Salt with its own Python to the node) is on by default: the array's
Ubuntu 16.04 nodes have Python 3.5, which no current Salt runs on (docs/operations.md).

    python3 tools/roster.py --user nvidia --priv ~/.ssh/jetson_ed25519 --sudo > roster
    python3 tools/roster.py --list            # "name ip" lines for shell loops
    python3 tools/roster.py --masters         # astro7,... for `salt-ssh -L`

Runs on the operator's machine in the repo's virtualenv (`make venv`: it imports jetson_array); no
Salt import.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from jetson_array import nodetable

HEADER = (
    "# salt-ssh roster generated from {table} by tools/roster.py: do not edit,\n"
    "# edit the node table and regenerate (docs/operations.md).\n"
)


def entries(
    cluster: dict[str, Any],
    user: str | None = None,
    priv: str | None = None,
    sudo: bool = False,
    relenv: bool = True,
    port: int | None = None,
) -> dict[str, dict[str, Any]]:
    """The roster as a mapping: table name -> salt-ssh target settings, in table order."""
    settings: dict[str, Any] = {}
    if user:
        settings["user"] = user
    if priv:
        settings["priv"] = priv
    if port:
        settings["port"] = port
    if sudo:
        settings["sudo"] = True
    if relenv:
        settings["relenv"] = True
    return {row["name"]: {"host": row["ip"], **settings} for row in cluster["nodes"]}


def render(roster: dict[str, dict[str, Any]], table: str) -> str:
    """The roster file text: a do-not-edit header naming the table, then YAML."""
    body = yaml.safe_dump(roster, default_flow_style=False, sort_keys=False)
    return HEADER.format(table=table) + body


def absolute(path: str) -> str:
    """A path as salt-ssh needs it in its files: absolute (it runs from another directory)."""
    return str(Path(path).expanduser().resolve())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", help="node table (default: pillar/nodes.yaml)")
    parser.add_argument("--user", help="ssh login on the nodes (stock L4T: nvidia)")
    parser.add_argument("--priv", type=absolute,
                        help="ssh private key of the operator (path, not the key)")
    parser.add_argument("--port", type=int, help="ssh port if not 22")
    parser.add_argument("--sudo", action="store_true", help="run Salt through sudo")
    parser.add_argument(
        "--no-relenv",
        dest="relenv",
        action="store_false",
        help="use salt-thin with the node's own python3 (only for nodes with Python >= 3.10)",
    )
    parser.add_argument("--list", action="store_true", help="print 'name ip' lines instead")
    parser.add_argument("--masters", action="store_true",
                        help="print the NFS masters, comma-separated (for salt -L / salt-ssh -L)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cluster = nodetable.load(args.table)
    except nodetable.NodeTableError as err:
        print(f"roster: {err}", file=sys.stderr)
        return 1
    if args.list:
        for row in cluster["nodes"]:
            print(row["name"], row["ip"])
        return 0
    if args.masters:
        print(",".join(cluster["masters"]))
        return 0
    roster = entries(cluster, args.user, args.priv, args.sudo, args.relenv, args.port)
    sys.stdout.write(render(roster, args.table or nodetable.DEFAULT_TABLE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
