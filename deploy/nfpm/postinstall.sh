#!/bin/sh
# Make systemd see the (new) unit. The service is not enabled or started:
# the config needs a corp id and a secret first.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
  if systemctl is-active --quiet orgsync; then
    systemctl try-restart orgsync || true
  fi
fi
if [ "${1:-}" = "configure" ] && [ -z "${2:-}" ] || [ "${1:-}" = "1" ]; then
  echo "orgsync installed. Next: edit /etc/orgsync/orgsync.yaml, put the Contacts-Sync secret in"
  echo "/etc/orgsync/wecom.secret (mode 0600), then: systemctl enable --now orgsync"
fi
exit 0
