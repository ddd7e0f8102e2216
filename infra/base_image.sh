#!/usr/bin/env bash
# A Debian bookworm base image with Python 3.11, from Debian's packages alone, for machines
# that cannot pull the official python:3.11-slim-bookworm image (no route to Docker Hub).
# `make images` runs this by itself when that pull fails, and says so.
#
#   infra/base_image.sh ENGINE [NAME]     e.g. infra/base_image.sh podman localhost/kubetfx-base:bookworm
#
# Needs mmdebstrap (Debian package) and root. The interpreter is Debian's 3.11.2 at
# /usr/bin/python3.11 (the official image has 3.11.14 at /usr/local/bin): the locks are checked
# to install on 3.11.2 (tests/unit/test_lock.py). Unlike the official image it has no C headers;
# the Dockerfiles' builder stages install python3.11-dev when Python.h is missing.
set -euo pipefail
engine="${1:?usage: infra/base_image.sh ENGINE [NAME]}"
name="${2:-localhost/kubetfx-base:bookworm}"
command -v mmdebstrap >/dev/null || {
  echo "infra/base_image.sh: mmdebstrap not found: apt-get install -y mmdebstrap" >&2
  exit 1
}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mmdebstrap --quiet --variant=minbase \
  --include=ca-certificates,python3.11,python3.11-venv,python3-pip,python-is-python3 \
  bookworm "$work/rootfs.tar"
"$engine" import --change 'CMD ["python3.11"]' "$work/rootfs.tar" "$name" >/dev/null
echo "infra/base_image.sh: built $name from Debian bookworm packages"
