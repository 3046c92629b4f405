#!/bin/sh
# After install or upgrade: the orgsync group and the HR inbox, the
# notify-reload drop-in where systemd supports it, and systemd told about
# the (new) unit. The service is not enabled or started: the config needs a
# corp id and a secret first.
set -e

# The group of the accounts that deliver HR exports; the daemon (a
# DynamicUser) joins it through SupplementaryGroups=orgsync.
if ! getent group orgsync >/dev/null 2>&1; then
  if command -v groupadd >/dev/null 2>&1; then
    groupadd --system orgsync
  else
    addgroup --system orgsync
  fi
fi
install -d -m 0755 /var/spool/orgsync
if [ ! -d /var/spool/orgsync/inbox ]; then
  install -d -m 2770 -o root -g orgsync /var/spool/orgsync/inbox
fi

# Type=notify-reload needs systemd 253; older ones keep Type=notify (the
# unit's ExecReload= sends SIGHUP).
dropin=/etc/systemd/system/orgsync.service.d/50-notify-reload.conf
sdver=$(systemctl --version 2>/dev/null | sed -n '1s/^systemd \([0-9][0-9]*\).*/\1/p')
if [ -n "$sdver" ] && [ "$sdver" -ge 253 ]; then
  if [ ! -e "$dropin" ]; then
    install -d -m 0755 "$(dirname "$dropin")"
    install -m 0644 /usr/share/orgsync/notify-reload.conf "$dropin"
  fi
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
  if systemctl is-active --quiet orgsync; then
    systemctl try-restart orgsync || true
  fi
fi
if [ "${1:-}" = "configure" ] && [ -z "${2:-}" ] || [ "${1:-}" = "1" ]; then
  echo "orgsync installed. Next: edit /etc/orgsync/orgsync.yaml, put the Contacts-Sync secret in"
  echo "/etc/orgsync/wecom.secret (mode 0600), then: systemctl enable --now orgsync"
  echo "HR exports go to /var/spool/orgsync/inbox (add their account to the orgsync group);"
  echo "see /usr/share/doc/orgsync/README.Debian."
fi
exit 0
