#!/bin/sh
# The state store (/var/lib/orgsync) and the inbox are kept on remove and on
# purge: the store records which WeCom members orgsync owns. Purge removes
# the config (conffile) and the notify-reload drop-in the package added.
set -e
case "${1:-}" in
  purge)
    rm -f /etc/systemd/system/orgsync.service.d/50-notify-reload.conf
    rmdir /etc/systemd/system/orgsync.service.d 2>/dev/null || true
    ;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
fi
exit 0
