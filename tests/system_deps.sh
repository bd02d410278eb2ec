#!/bin/sh
# System packages the test suite drives: Debian's chromium (the report and MLflow UI browser
# tests, through Playwright's pip wheel: no browser download) and prometheus (the scrape
# config test). Idempotent and quick when both are there; apt-get update only when not.
set -eu

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v prometheus >/dev/null 2>&1 || missing="$missing prometheus"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo -n"
else
    echo "tests/system_deps.sh: need root (or sudo) to install:$missing" >&2
    exit 1
fi
echo "installing:$missing"
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
