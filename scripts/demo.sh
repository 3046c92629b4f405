#!/usr/bin/env bash
# make demo: placeholder replaced when the sync engine lands.
set -euo pipefail
echo "demo: not yet available" >&2
exit 1
