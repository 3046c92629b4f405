#!/bin/sh
# Prints the package version of the checkout in the current directory, in a
# form dpkg and rpm sort in commit order, so that an upgrade is never a
# downgrade:
#   on a tag v1.2.3                 1.2.3
#   5 commits after v1.2.3          1.2.3+5.gabc1234     (after 1.2.3, before 1.2.4)
#   no release tag yet              0.0.0~git20261202031500.abc1234
#                                   (the commit time first; "~" sorts before
#                                   0.0.0, so any real release is newer)
set -eu
if d=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
  d=${d#v}
  case "$d" in
    *-*-g*) n=${d%-g*}; echo "${n%-*}+${n##*-}.g${d##*-g}" ;;
    *) echo "$d" ;;
  esac
  exit 0
fi
when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null || true)
hash=$(git rev-parse --short=7 HEAD 2>/dev/null || true)
if [ -z "$when" ] || [ -z "$hash" ]; then
  echo "0.0.0~unknown"
  exit 0
fi
echo "0.0.0~git${when}.${hash}"
