#!/bin/sh
# Stop the daemon before its binary goes away (not on upgrade: deb passes
# "upgrade", rpm passes 1 when another version stays installed).
set -e
case "${1:-}" in
  upgrade|1) exit 0 ;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now orgsync >/dev/null 2>&1 || true
fi
exit 0
