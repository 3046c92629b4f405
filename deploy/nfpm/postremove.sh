#!/bin/sh
# The state store (/var/lib/orgsync) is kept on remove: it records which
# WeCom members orgsync owns. `apt purge` removes the config (conffile) only.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
fi
exit 0
