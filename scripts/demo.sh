#!/usr/bin/env bash
# make demo: the real sync job end to end against the built-in WeCom emulator
# with the bundled sample company (configs/demo, GBK CSV exports).
#
#   day 1: first sync of a 294-person company into an empty WeCom
#   day 2: the next day's export: hires, leavers, people marked 离职, movers,
#          a rehire and the department 研发中心 renamed to 技术中心
#   day 3: the same export again: no changes, zero write calls
#   day 4: a second source, an HR HTTP API (orgsync hr-api-emulator), joined
#          with the export on 工号: everyone gets an English alias
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./bin/orgsync}
RUN=${RUN:-demo-run}
rm -rf "$RUN"
mkdir -p "$RUN/inbox"
RUN=$(cd "$RUN" && pwd)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The emulator prints the URL it listens on; port 0 picks a free one.
"$BIN" wecom-emulator --listen 127.0.0.1:0 --corp-id wwdemo00000000001 --secret demo-contacts-sync-secret \
  --restricted-reads --data "$RUN/wecom-emulator.json" >"$RUN/emulator.out" 2>"$RUN/emulator.log" &
EMU=$!
trap 'kill $EMU 2>/dev/null || true; wait $EMU 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  URL=$(grep -o 'http://[0-9.:]*' "$RUN/emulator.out" 2>/dev/null | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "${URL:-}" ] || { echo "the emulator did not start:"; cat "$RUN/emulator.log"; exit 1; }

printf 'demo-contacts-sync-secret\n' >"$RUN/wecom.secret"
sed -e "s#@INBOX@#$RUN/inbox#g" -e "s#@URL@#$URL#g" -e "s#@RUN@#$RUN#g" configs/demo/orgsync.yaml.in >"$RUN/orgsync.yaml"
CFG="$RUN/orgsync.yaml"

step "WeCom emulator at $URL (post-2022 restricted reads: only list_id and simplelist)"
step "validate the config and connectivity"
cp configs/demo/day1/* "$RUN/inbox/"
"$BIN" validate -c "$CFG" --log-level warn

step "day 1: plan (first 25 lines)"
"$BIN" plan -c "$CFG" --log-level warn >"$RUN/day1-plan.txt"
head -25 "$RUN/day1-plan.txt"
echo "  ... (the whole plan is in $RUN/day1-plan.txt)"

step "day 1: sync"
"$BIN" sync -c "$CFG" --log-level warn >"$RUN/day1-sync.txt"
sed -n '/^run /,$p' "$RUN/day1-sync.txt"

step "day 2: the next day's export arrives"
rm -f "$RUN"/inbox/*
cp configs/demo/day2/* "$RUN/inbox/"
"$BIN" plan -c "$CFG" --log-level warn

step "day 2: sync"
"$BIN" sync -c "$CFG" --log-level warn >"$RUN/day2-sync.txt"
sed -n '/^run /,$p' "$RUN/day2-sync.txt"

step "day 3: the same export again: nothing to do, zero write calls"
"$BIN" sync -c "$CFG" --log-level warn >"$RUN/day3-sync.txt"
sed -n '/^run /,$p' "$RUN/day3-sync.txt"

step "day 4: a second source, the HR system's HTTP API, joined with the export on 工号"
printf 'demo-hr-api-token\n' >"$RUN/hr-api.token"
"$BIN" hr-api-emulator --listen 127.0.0.1:0 --records configs/demo/day4/profiles.json --token-file "$RUN/hr-api.token" \
  >"$RUN/hr-api.out" 2>"$RUN/hr-api.log" &
HRAPI_PID=$!
trap 'kill $EMU $HRAPI_PID 2>/dev/null || true; wait $EMU $HRAPI_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  HRAPI=$(grep -o 'http://[0-9.:]*' "$RUN/hr-api.out" 2>/dev/null | head -1 || true)
  [ -n "$HRAPI" ] && break
  sleep 0.1
done
[ -n "${HRAPI:-}" ] || { echo "the HR API emulator did not start:"; cat "$RUN/hr-api.log"; exit 1; }
sed -e "s#@INBOX@#$RUN/inbox#g" -e "s#@URL@#$URL#g" -e "s#@HRAPI@#$HRAPI#g" -e "s#@RUN@#$RUN#g" \
  configs/demo/orgsync-join.yaml.in >"$RUN/orgsync-join.yaml"
JCFG="$RUN/orgsync-join.yaml"
echo "HR API at $HRAPI (bearer token, cursor pages of 100); config: $JCFG"
echo "(orgsync warns that the token goes over plain http: fine on loopback, use https:// for a real HR system;"
echo " the demo shows errors only from here on)"
"$BIN" validate -c "$JCFG" --log-level error
"$BIN" sync -c "$JCFG" --log-level error >"$RUN/day4-sync.txt"
sed -n '/^run /,$p' "$RUN/day4-sync.txt"
echo "explain shows which source each field came from:"
"$BIN" explain -c "$JCFG" --log-level error E00031 | grep -E '^(joined|  (hr|profiles):|  (alias|name|email|userid):)' || true

step "history"
"$BIN" history -c "$CFG" --log-level warn

step "explain: what happened to E00059, marked 离职 in the day-2 export?"
"$BIN" explain -c "$CFG" --log-level warn E00059 | grep -v '^  '

step "the audit log of one member"
"$BIN" history -c "$CFG" --log-level warn --object e00031

echo
echo "Everything is in $RUN: the config, the state store (state.db), the emulator's data."
echo "To explore further, start the emulator on the saved data and use the same config:"
echo "  $BIN wecom-emulator --listen ${URL#http://} --corp-id wwdemo00000000001 --secret demo-contacts-sync-secret --restricted-reads --data $RUN/wecom-emulator.json &"
echo "  $BIN plan -c $CFG"
