#!/usr/bin/env bash
# A headless browser for the report tests (tests/component/test_reports.py).
#
#   infra/browser.sh install    on Debian, as root: chromium from Debian's packages
#
# chromium already on PATH: nothing to do. Anywhere else than Debian-with-root this says what
# to install and exits 1; the tests then skip, naming this script.
set -euo pipefail
[ "${1:-}" = install ] || { echo "usage: infra/browser.sh install" >&2; exit 2; }
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  exit 0
fi
if [ ! -r /etc/debian_version ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  cat >&2 <<'MSG'
infra/browser.sh: no chromium on PATH, and this is not Debian as root, so it cannot be
installed here. Install Chromium (Debian/Ubuntu: apt-get install chromium) or point
KUBETFX_CHROMIUM at a Chrome or Chromium binary.
MSG
  exit 1
fi
echo "infra/browser.sh: installing chromium from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq chromium >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
chromium --version
