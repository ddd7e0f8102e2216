# syntax=docker/dockerfile:1
# The pipeline component image (config: images.components). Every step of the compiled
# pipeline is a KFP lightweight component whose command is `python3 -m kfp.dsl.executor_main`,
# so `python3` on PATH must be the venv's, with kfp and the kubetfx package installed.
#
# Build from the repository root (infra/images.py does this):
#   docker build --platform linux/amd64 -f infra/docker/components.Dockerfile .
# The build context is filtered by components.Dockerfile.dockerignore (BuildKit reads the
# ignore file named after the Dockerfile), which keeps .venv and run outputs out of it.
#
# linux/amd64 only: tensorflow-data-validation and tfx-bsl publish no arm64 wheels.
#
# No HEALTHCHECK: each step is a run-to-completion process, not a service.
# checkov:skip=CKV_DOCKER_2: a batch image (one process per pipeline step); nothing to probe

# The base is a build argument, the same in both stages, so the venv's interpreter exists in
# the runtime stage too. Default: the official image (Python at /usr/local/bin/python3.11).
# Where Docker Hub cannot be reached, `make images` builds an equivalent from Debian packages
# (infra/base_image.sh: Debian's python3.11 at /usr/bin) and passes it here. Debian bookworm
# (glibc 2.36) is what requirements/lock.txt was resolved and verified on. To pin by digest,
# append @sha256:... from `docker buildx imagetools inspect python:3.11.14-slim-bookworm`.
# checkov:skip=CKV_DOCKER_7: FROM names the BASE_IMAGE argument, whose default is an exact release tag (tests/infra/test_dockerfiles.py)
ARG BASE_IMAGE=python:3.11.14-slim-bookworm
FROM ${BASE_IMAGE} AS builder

# crcmod and pyfarmhash (Beam and tfx-bsl dependencies) ship no cp311 wheel: they are
# compiled here, in the stage that is thrown away. The official image has Python's C headers;
# Debian's python3.11 needs python3.11-dev for them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
      $(python3.11 -c 'import os, sysconfig; h = os.path.join(sysconfig.get_paths()["include"], "Python.h"); print("" if os.path.exists(h) else "python3.11-dev")') \
 && rm -rf /var/lib/apt/lists/*

# pip's cache is a build cache mount (kept by the engine between builds, never in a layer), so
# a rebuild after a lock change downloads and compiles only what changed. A CA bundle for
# TLS-inspecting proxies comes in as the optional build secret `ca` (make images CA_BUNDLE=...).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_PROGRESS_BAR=off \
    PIP_ROOT_USER_ACTION=ignore

# The pipeline runtime, installed as `make setup` installs it, minus the dev tools: every pin of
# requirements/lock.txt (no pytest, ruff, checkov: those are in dev-lock.txt), then the
# package itself without dependencies, then `pip check`.
COPY requirements/lock.txt /opt/kubetfx/requirements/lock.txt
RUN --mount=type=cache,id=kubetfx-pip,target=/root/.cache/pip,sharing=locked \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3.11 -m venv /opt/venv \
 && /opt/venv/bin/pip install -r /opt/kubetfx/requirements/lock.txt

# No model server environment: infra_validate serves the candidate in the server image itself
# (a pod on Kubeflow, a temporary endpoint on Vertex AI, a container of the local engine).

# Editable, as in `make setup`: the source tree is what the server image and `make serve` run
# too.
COPY setup.py /opt/kubetfx/setup.py
COPY kubetfx /opt/kubetfx/kubetfx
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation --no-cache-dir -e /opt/kubetfx \
 && /opt/venv/bin/pip check

FROM ${BASE_IMAGE} AS runtime

# No compilers here: only the venv and the source tree are copied from the builder.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/kubetfx /opt/kubetfx

# A numeric UID, so Kubernetes can verify runAsNonRoot. The home directory is where the
# config's relative defaults (./pipeline_root, ./references, ...) land, so it is writable.
RUN groupadd --gid 10001 kubetfx \
 && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/kubetfx kubetfx

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2

USER 10001:10001
WORKDIR /home/kubetfx

# KFP replaces the command; by default `docker run IMAGE` shows the CLI.
CMD ["kubetfx", "--help"]
