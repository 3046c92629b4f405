#!/bin/sh
# The state store (/var/lib/orgsync) is kept on remove and on purge: it
# records which WeCom members orgsync owns. Purge removes the config
# (conffile), the notify-reload drop-in the package added, and the inbox if
# it is empty (exports left in it stay); the orgsync group stays, as its
# members may own files elsewhere.
set -e
case "${1:-}" in
  purge)
    rm -f /etc/systemd/system/orgsync.service.d/50-notify-reload.conf
    rmdir /etc/systemd/system/orgsync.service.d 2>/dev/null || true
    rmdir /var/spool/orgsync/inbox /var/spool/orgsync 2>/dev/null || true
    ;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
fi
exit 0
