#!/usr/bin/env bash
# A container engine for `make images` and `make e2e`.
#
#   infra/engine.sh install    on Debian, as root: podman and buildah from Debian's packages
#
# Docker (Engine or Desktop) or podman already present: nothing to do. Anywhere else than
# Debian-with-root this says what to install and exits 1. Podman's settings for hosts like
# the CI machines are in infra/podman/containers.conf, which infra/images.py and infra/e2e.py
# pass through CONTAINERS_CONF: nothing under /etc is edited.
set -euo pipefail
[ "${1:-}" = install ] || { echo "usage: infra/engine.sh install" >&2; exit 2; }
# A docker command alone is not an engine: its daemon must answer (a client without a daemon
# is common on CI machines).
if command -v podman >/dev/null; then
  echo "infra/engine.sh: podman is installed"
  exit 0
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  echo "infra/engine.sh: docker answers"
  exit 0
fi
if [ ! -r /etc/debian_version ] || [ "$(id -u)" != 0 ]; then
  cat >&2 <<'MSG'
infra/engine.sh: no container engine. Install one of:
  - Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop;
  - podman (https://podman.io/docs/installation), then start its Docker API:
      podman system service --time=0 unix:///tmp/podman.sock &  export DOCKER_HOST=unix:///tmp/podman.sock
On Debian, as root, this script installs podman itself.
MSG
  exit 1
fi
packages=(podman buildah runc crun fuse-overlayfs uidmap mmdebstrap)
echo "infra/engine.sh: installing ${packages[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq "${packages[@]}" >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq "${packages[@]}" >/dev/null
fi
podman --version
