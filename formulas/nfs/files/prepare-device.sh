#!/bin/sh
# Make DEVICE an ext4 filesystem labelled LABEL, but only if ALLOW is "True" and the device is
# blank: no filesystem and no partition table (blkid -p exits 2 when it finds neither).
# A device that already has something on it is never touched: exit 1 naming it.
set -u
device=$1 label=$2 allow=$3
if [ ! -b "$device" ]; then
    echo "nfs server: $device is not a block device; set the node's ssd in the node table" >&2
    exit 1
fi
found=$(blkid -p -o export "$device" 2>/dev/null)
status=$?
if [ "$status" -ne 2 ]; then
    echo "nfs server: $device is not blank and has no ext4 filesystem ($(echo "$found" | grep -E '^(TYPE|PTTYPE)=' | tr '\n' ' ')); not formatting it" >&2
    exit 1
fi
if [ "$allow" != "True" ]; then
    echo "nfs server: $device is blank; set pillar nfs:server:format_device: true to format it" >&2
    exit 1
fi
exec mkfs.ext4 -q -L "$label" "$device"
