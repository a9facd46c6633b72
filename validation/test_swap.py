"""Swap: the swap file has the pillar size, root-only mode, an fstab entry, and is active."""

from typing import Any

import pytest

from validation import parse
from validation.session import Node

MIB = 1024 * 1024


def test_swap_file_has_pillar_size_and_mode(node: Node, record: Any) -> None:
    swap = node.formula("swap")
    have = node.probe("swap_file").out.split()
    want = [str(swap["size_mb"] * MIB), "600", "root"]
    record(have=have, expected=want)
    assert have == want, f"{node.name}: {swap['file']} is {have or 'missing'} (size mode owner), want {want}"


def test_swap_file_has_fstab_entry(node: Node, record: Any) -> None:
    swap = node.formula("swap")
    entries = parse.fstab_entries(node.probe("fstab").out, "source", swap["file"])
    record(fstab=entries)
    assert [entry["fstype"] for entry in entries] == ["swap"], (
        f"{node.name}: /etc/fstab has {len(entries)} swap entries for {swap['file']}, want 1"
    )


@pytest.mark.where("swap:activate", reason="the swap file is made but not switched on")
def test_swap_is_active_with_pillar_size(node: Node, record: Any) -> None:
    swap = node.formula("swap")
    rows = {row[0]: row for row in parse.table_lines(node.probe("proc_swaps").out)[1:]}
    row = rows.get(swap["file"])
    record(proc_swaps=row)
    assert row, f"{node.name}: {swap['file']} is not active (/proc/swaps)"
    size_kib, want_kib = int(row[2]), swap["size_mb"] * 1024
    # The kernel keeps the first page for the swap header: allow one 64 KiB page at most.
    assert want_kib - 64 <= size_kib <= want_kib, (
        f"{node.name}: {swap['file']} is active with {size_kib} KiB, pillar wants {want_kib} KiB"
    )
