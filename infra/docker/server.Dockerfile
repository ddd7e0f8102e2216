# syntax=docker/dockerfile:1
# The model server image (config: images.server): `python -m kubetfx.serving` on
# 0.0.0.0:8080, the port KServe sends a custom predictor's traffic to. Same code as
# `make serve`, in the serving environment (tensorflow + kserve, requirements/serving-lock.txt).
#
# Build from the repository root (infra/images.py does this):
#   docker build --platform linux/amd64 -f infra/docker/server.Dockerfile .
# The build context is filtered by server.Dockerfile.dockerignore.

# The same base as the component image (a build argument: see components.Dockerfile), in both
# stages. To pin by digest, append @sha256:... to the default.
# checkov:skip=CKV_DOCKER_7: FROM names the BASE_IMAGE argument, whose default is an exact release tag (tests/infra/test_dockerfiles.py)
ARG BASE_IMAGE=python:3.11.14-slim-bookworm
FROM ${BASE_IMAGE} AS builder

# pip's cache is a build cache mount (never in a layer); the optional build secret `ca` is a
# CA bundle for TLS-inspecting proxies (make images CA_BUNDLE=...).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_PROGRESS_BAR=off \
    PIP_ROOT_USER_ACTION=ignore

COPY requirements/serving-lock.txt /opt/kubetfx/requirements/serving-lock.txt
RUN --mount=type=cache,id=kubetfx-pip,target=/root/.cache/pip,sharing=locked \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3.11 -m venv /opt/venv-serving \
 && /opt/venv-serving/bin/pip install -r /opt/kubetfx/requirements/serving-lock.txt \
 && /opt/venv-serving/bin/pip check

FROM ${BASE_IMAGE} AS runtime

COPY --from=builder /opt/venv-serving /opt/venv-serving
# The package is not installed: its declared dependencies (Beam, TFDV...) belong to the
# pipeline environment. The server imports only its own modules, the config model and the
# registry layout, from the source on PYTHONPATH, as `make serve` does.
COPY kubetfx /opt/kubetfx/kubetfx

RUN groupadd --gid 10001 kubetfx \
 && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/kubetfx kubetfx

ENV PATH=/opt/venv-serving/bin:$PATH \
    VIRTUAL_ENV=/opt/venv-serving \
    PYTHONPATH=/opt/kubetfx \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2

USER 10001:10001
# Relative defaults (./model_registry, ./serving_logs) resolve here; in a cluster pass
# --registry and --log-dir (or --config) instead.
WORKDIR /home/kubetfx

# REST on 8080; gRPC (TF Serving PredictionService, KServe V2) on 8500, serving.grpc_port.
EXPOSE 8080 8500
# For `docker run` and compose; Kubernetes ignores it and uses the InferenceService's probes.
# The slim base has no curl: ask with Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/v2/health/live', timeout=4)"]
# Arguments given to the container (Kubernetes `args`) are appended: --registry, --model,
# --config, --log-dir...
ENTRYPOINT ["python", "-m", "kubetfx.serving", "--host", "0.0.0.0", "--port", "8080"]
