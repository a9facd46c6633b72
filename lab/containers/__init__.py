"""The container lab backend: systemd-nspawn nodes on a bridge, one shared host kernel."""
