#!/bin/bash
# Install the pinned Salt onedir on a node and make it a salt-minion of our master (or a
# masterless minion on a copy of this repo: the Vagrant dev cluster). Runs on the node as
# root; bash 4.3 (Ubuntu 16.04), coreutils, tar with xz; curl or wget only for a URL.
# Re-runnable: an unchanged tarball is not unpacked again, unchanged config is not rewritten.
# See docs/operations.md ("Minion path").
set -euo pipefail

PROG=bootstrap-minion.sh
usage() {
    cat <<EOF
usage: $PROG --tarball PATH|URL --sha256 HEX --id NAME
             (--master ADDRESS --master-finger FINGERPRINT | --masterless REPO)
             [--site-pillar DIR] [--table FILE] [--prefix DIR] [--root DIR] [--no-start]

  --tarball PATH|URL  the Salt onedir tarball, fetched by the operator from the official Salt
                      repository: salt-<version>-onedir-linux-arm64.tar.xz on the TX2 (Salt
                      names aarch64 "arm64"), salt-<version>-onedir-linux-x86_64.tar.xz on x86_64
  --sha256 HEX        its sha256, from the Salt release page: checked before anything changes
  --id NAME           minion id = the node's name in the node table (astro7)
  --master ADDRESS    the salt-master this minion connects to
  --master-finger FINGERPRINT
                      the master's public key fingerprint as "salt-key -F master" prints it
                      on the master (master.pub, sha256): the minion refuses any other master
                      key, so the first connection is not trust-on-first-use
  --masterless REPO   no master: salt-call --local over the states and pillar in REPO
  --site-pillar DIR   masterless: the pillar root that holds site.sls (outside git)
  --table FILE        masterless: node table to use instead of REPO/pillar/nodes.yaml
  --prefix DIR        where the onedir goes (default /opt/saltstack: /opt/saltstack/salt)
  --root DIR          install under DIR instead of / (image builds, tests); implies --no-start
  --no-start          write everything, do not enable or start the salt-minion service
EOF
}

die() { echo "$PROG: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; usage >&2; exit 2; }
say() { echo "$PROG: $*"; }

TARBALL="" SHA256="" MINION_ID="" MASTER="" FINGER="" REPO="" SITE_PILLAR="" TABLE=""
PREFIX=/opt/saltstack ROOT="" START=yes

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            -h|--help) usage; exit 0 ;;
            --no-start) START=no; shift; continue ;;
            --tarball|--sha256|--id|--master|--master-finger|--masterless|--site-pillar|--table|--prefix|--root)
                [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value" ;;
            *) usage_error "unknown argument: $1" ;;
        esac
        case "$1" in
            --tarball) TARBALL=$2 ;;
            --sha256) SHA256=$(printf '%s' "$2" | tr 'A-F' 'a-f') ;;
            --id) MINION_ID=$2 ;;
            --master) MASTER=$2 ;;
            --master-finger) FINGER=$(printf '%s' "$2" | tr 'A-F' 'a-f') ;;
            --masterless) REPO=$2 ;;
            --site-pillar) SITE_PILLAR=$2 ;;
            --table) TABLE=$2 ;;
            --prefix) PREFIX=$2 ;;
            --root) ROOT=$2; START=no ;;
        esac
        shift 2
    done
}

check_args() {
    [ -n "$TARBALL" ] || usage_error "--tarball is required"
    [ -n "$SHA256" ] || usage_error "--sha256 is required"
    [ -n "$MINION_ID" ] || usage_error "--id is required (the node's name in the node table)"
    [[ "$SHA256" =~ ^[0-9a-f]{64}$ ]] || usage_error "--sha256 '$SHA256' is not 64 hex digits"
    [[ "$MINION_ID" =~ ^[a-z][a-z0-9_-]*$ ]] ||
        usage_error "--id '$MINION_ID' is not a node name (lower case, like astro7)"
    if [ -n "$MASTER" ] && [ -n "$REPO" ]; then
        usage_error "--master and --masterless exclude each other"
    fi
    [ -n "$MASTER" ] || [ -n "$REPO" ] || usage_error "--master or --masterless is required"
    [[ "$MASTER" =~ ^[A-Za-z0-9.:-]*$ ]] || usage_error "--master '$MASTER' is not a host or address"
    if [ -n "$MASTER" ] && [ -z "$FINGER" ]; then
        usage_error "--master-finger is required with --master (on the master: salt-key -F master)"
    fi
    [ -z "$FINGER" ] || [ -n "$MASTER" ] || usage_error "--master-finger goes with --master"
    [ -z "$FINGER" ] || [[ "$FINGER" =~ ^([0-9a-f]{2}:){31}[0-9a-f]{2}$ ]] ||
        usage_error "--master-finger '$FINGER' is not a sha256 key fingerprint (salt-key -F master)"
    if [ -z "$REPO" ] && { [ -n "$SITE_PILLAR" ] || [ -n "$TABLE" ]; }; then
        usage_error "--site-pillar and --table go with --masterless"
    fi
    [[ "$PREFIX" = /* ]] || usage_error "--prefix '$PREFIX' must be an absolute path"
    if [ -n "$REPO" ]; then
        [[ -d "$REPO/salt" && -d "$REPO/pillar" ]] ||
            usage_error "--masterless '$REPO' is not a copy of the repo (no salt/ and pillar/)"
    fi
    if [ -n "$TABLE" ]; then
        [ -f "$TABLE" ] || usage_error "--table '$TABLE' is not a file"
    fi
    return 0
}

# The tarball names its arch; refuse one for another machine before unpacking it.
check_arch() {
    local name machine wanted
    name=$(basename "$TARBALL")
    machine=$(uname -m)
    case "$name" in
        *-linux-arm64.tar.xz) wanted=aarch64 ;;  # Salt's name for aarch64 (salt/utils/relenv.py)
        *-linux-x86_64.tar.xz) wanted=x86_64 ;;
        *) return 0 ;;
    esac
    [ "$wanted" = "$machine" ] || die "$name is for $wanted, this machine is $machine"
}

# Echo the local path of the tarball, downloading a URL into WORK first.
fetch() {
    local url=$1 dest
    case "$url" in
        http://*|https://*) ;;
        *) [ -f "$url" ] || die "--tarball $url: no such file"; echo "$url"; return 0 ;;
    esac
    dest="$WORK/$(basename "$url")"
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$dest" "$url" || die "cannot download $url (curl)"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$dest" "$url" || die "cannot download $url (wget)"
    else
        die "cannot download $url: neither curl nor wget; copy the tarball to the node"
    fi
    echo "$dest"
}

verify() {
    local file=$1 actual
    actual=$(sha256sum "$file" | cut -d' ' -f1)
    [ "$actual" = "$SHA256" ] ||
        die "$file: sha256 is $actual, expected $SHA256: corrupt or wrong file, fetch it again"
}

# Unpack into PREFIX/salt unless the same tarball is there already (stamp = its sha256).
install_onedir() {
    local file=$1 dest="$ROOT$PREFIX" stamp
    stamp="$dest/salt/.jetson-onedir-sha256"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$SHA256" ]; then
        say "onedir: $dest/salt already holds this tarball"
        return 0
    fi
    mkdir -p "$dest"
    rm -rf "$dest/.salt.new" "$dest/.salt.old"
    mkdir "$dest/.salt.new"
    tar -xJf "$file" -C "$dest/.salt.new" || die "$file: cannot unpack (tar -xJ)"
    [[ -x "$dest/.salt.new/salt/salt-minion" && -x "$dest/.salt.new/salt/salt-call" ]] ||
        die "$file: not a Salt onedir tarball (no salt/salt-minion and salt/salt-call inside)"
    echo "$SHA256" > "$dest/.salt.new/salt/.jetson-onedir-sha256"
    [ ! -e "$dest/salt" ] || mv "$dest/salt" "$dest/.salt.old"
    mv "$dest/.salt.new/salt" "$dest/salt"
    rm -rf "$dest/.salt.new" "$dest/.salt.old"
    say "onedir: unpacked into $dest/salt"
}

minion_config() {
    echo "# Written by tools/bootstrap/bootstrap-minion.sh: rerun it to change, do not edit."
    echo "id: $MINION_ID"
    if [ -n "$MASTER" ]; then
        echo "master: $MASTER"
        echo "master_finger: '$FINGER'"
        return 0
    fi
    echo "file_client: local"
    echo "file_roots:"
    echo "  base: [$REPO/salt, $REPO/formulas]"
    echo "pillar_roots:"
    if [ -n "$SITE_PILLAR" ]; then
        echo "  base: [$REPO/pillar, $SITE_PILLAR]"
    else
        echo "  base: [$REPO/pillar]"
    fi
    [ -z "$TABLE" ] || echo "jetson_node_table: $TABLE"
}

minion_unit() {
    cat <<EOF
# Written by tools/bootstrap/bootstrap-minion.sh (Salt onedir in $PREFIX/salt).
[Unit]
Description=The Salt Minion (onedir)
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=all
LimitNOFILE=8192
ExecStart=$PREFIX/salt/salt-minion
KillMode=process
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
}

# Write stdin to FILE only if it differs; echo "changed" or "unchanged". Never truncates
# FILE in place: the new text goes to a temp file beside it, then mv.
put() {
    local file=$1 mode=$2 tmp
    mkdir -p "$(dirname "$file")"
    tmp=$(mktemp "$file.XXXXXX")
    cat > "$tmp"
    chmod "$mode" "$tmp"
    if [ -f "$file" ] && cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
        echo unchanged
    else
        mv "$tmp" "$file"
        echo changed
    fi
}

configure() {
    local config unit id_file link
    config=$(minion_config | put "$ROOT/etc/salt/minion.d/jetson.conf" 0644)
    id_file=$(echo "$MINION_ID" | put "$ROOT/etc/salt/minion_id" 0644)
    unit=$(minion_unit | put "$ROOT/etc/systemd/system/salt-minion.service" 0644)
    for link in salt-call salt-minion; do
        mkdir -p "$ROOT/usr/local/bin"
        ln -sfn "$PREFIX/salt/$link" "$ROOT/usr/local/bin/$link"
    done
    say "config: /etc/salt/minion.d/jetson.conf $config, minion_id $id_file, unit $unit"
    CHANGED=no
    if [ "$config$id_file$unit" != unchangedunchangedunchanged ]; then
        CHANGED=yes
    fi
}

start_service() {
    if [ -n "$REPO" ]; then
        say "service: not started (masterless: salt-call --local state.apply)"
        return 0
    fi
    if [ "$START" = no ]; then
        say "service: not started (--no-start or --root)"
        return 0
    fi
    systemctl daemon-reload
    systemctl enable salt-minion.service >/dev/null
    if [ "$CHANGED" = yes ]; then
        systemctl restart salt-minion.service
    else
        systemctl start salt-minion.service
    fi
    say "service: salt-minion running; accept its key on the master: salt-key -a $MINION_ID"
}

main() {
    parse_args "$@"
    check_args
    [ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || die "run as root (or give --root DIR)"
    check_arch
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    local file
    file=$(fetch "$TARBALL")
    verify "$file"
    install_onedir "$file"
    configure
    start_service
    say "done: minion $MINION_ID${MASTER:+ of master $MASTER}${REPO:+ (masterless on $REPO)}"
}

main "$@"
