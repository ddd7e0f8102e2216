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

# The same exact base in both stages, so the venv's interpreter (/usr/local/bin/python3.11)
# exists in the runtime stage too. Debian bookworm (glibc 2.36) is what requirements/lock.txt
# was resolved and verified on. To pin by digest as well, append @sha256:... from
# `docker buildx imagetools inspect python:3.11.14-slim-bookworm`.
FROM python:3.11.14-slim-bookworm AS builder

# crcmod and pyfarmhash (Beam and tfx-bsl dependencies) ship no cp311 wheel: they are
# compiled here, in the stage that is thrown away.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_PROGRESS_BAR=off

# The pipeline environment, installed exactly as `make setup` does: every pin from the lock,
# then the package itself without dependencies, then `pip check`.
COPY requirements/lock.txt /opt/kubetfx/requirements/lock.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -r /opt/kubetfx/requirements/lock.txt

# The model server's environment (kserve needs pandas >= 2.2, which TFDV forbids, so it is
# separate). The infra_validate step starts the real server from it on loopback.
COPY requirements/serving-lock.txt /opt/kubetfx/requirements/serving-lock.txt
RUN python -m venv /opt/venv-serving \
 && /opt/venv-serving/bin/pip install -r /opt/kubetfx/requirements/serving-lock.txt \
 && /opt/venv-serving/bin/pip check

# Editable, as in `make setup`: the source tree is what the server image and `make serve` run
# too. (kubetfx/serving/process.py gives the server only the package on its path, so infra
# validation would work from a regular install as well: tests/pipeline/test_install.py.)
COPY setup.py /opt/kubetfx/setup.py
COPY kubetfx /opt/kubetfx/kubetfx
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation -e /opt/kubetfx \
 && /opt/venv/bin/pip check

FROM python:3.11.14-slim-bookworm AS runtime

# No compilers here: only the two venvs and the source tree are copied from the builder.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/venv-serving /opt/venv-serving
COPY --from=builder /opt/kubetfx /opt/kubetfx

# A numeric UID, so Kubernetes can verify runAsNonRoot. The home directory is where the
# config's relative defaults (./pipeline_root, ./references, ...) land, so it is writable.
RUN groupadd --gid 10001 kubetfx \
 && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/kubetfx kubetfx

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    KUBETFX_SERVING_PYTHON=/opt/venv-serving/bin/python \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2

USER 10001:10001
WORKDIR /home/kubetfx

# KFP replaces the command; by default `docker run IMAGE` shows the CLI.
CMD ["kubetfx", "--help"]
