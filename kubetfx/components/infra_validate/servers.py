"""Where infra validation serves the candidate: the model server image in a container or a pod,
or the server's Python environment in a subprocess (TFX InfraValidator's serving platforms).

Each is a context manager giving a `kubetfx.serving.process.Server`: its URL once it has one,
why it stopped if it did, and the tail of its log. Leaving the `with` removes whatever was
started (the container, the pod and the candidate copy it read), also when validation fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import uuid

from kubetfx.components import fileio
from kubetfx.errors import ConfigError, NotFound
from kubetfx.serving.process import Server, ServerProcess, serving_python

PORT = 8080  # the server image's REST port (infra/docker/server.Dockerfile)
IMAGE_UID = 10001  # the server image's user
NAME_PREFIX = "kubetfx-infra-validate-"
LABELS = {"app.kubernetes.io/part-of": "kubetfx", "app.kubernetes.io/component": "infra-validator"}
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def server_args(registry: str, model: str) -> list[str]:
    """The server's arguments: the one-version registry, no request log."""
    return ["--registry", registry, "--model", model, "--log-rate", "0"]


def subprocess_server(python: str | None, registry: str, model: str, log_path: str):
    return ServerProcess(serving_python(python), server_args(registry, model), log_path)


def in_container() -> bool:
    """Docker and podman leave these marker files in every container they start."""
    return os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")


class DockerServer(Server):
    """The server image in a container of the engine at DOCKER_HOST (InfraValidator's local
    docker mode). The candidate is copied into the container rather than bind-mounted: when
    this step runs in a container itself, its paths are not the engine host's. The REST port is
    published on the host's loopback; from inside a container the server's own address on the
    engine's network is used instead."""

    REGISTRY = "/tmp/candidate-registry"

    def __init__(self, image: str, registry: str, model: str):
        self.image, self.registry, self.model = image, registry, model
        self.name = NAME_PREFIX + uuid.uuid4().hex[:8]
        self._client = self._container = None
        self._url: str | None = None

    def __enter__(self) -> DockerServer:
        import docker

        try:
            self._client = docker.from_env()
            self._client.ping()
        except Exception as e:  # no SDK, no DOCKER_HOST, a dead socket
            raise ConfigError(
                f"infra_validate.mode 'docker' needs a Docker API ({type(e).__name__}: {e}): "
                "start Docker or podman's API service and set DOCKER_HOST, or set "
                "infra_validate.mode to 'subprocess'"
            ) from e
        try:
            self._client.images.get(self.image)
        except docker.errors.ImageNotFound as e:
            self._client.close()
            raise ConfigError(
                f"images.server: {self.image!r} is not in the engine's local images; build it "
                "with `make images` (podman names it localhost/NAME:TAG)"
            ) from e
        try:
            self._container = self._client.containers.create(
                self.image,
                server_args(self.REGISTRY, self.model),
                name=self.name,
                labels=LABELS,
                ports={f"{PORT}/tcp": ("127.0.0.1", None)},
            )
            self._container.put_archive("/tmp", _tar(self.registry, "candidate-registry"))
            self._container.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        import docker

        if self._container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self._container.remove(force=True)
            self._container = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def address(self) -> str | None:
        if self._url is None:
            self._container.reload()
            settings = self._container.attrs["NetworkSettings"]
            if in_container():
                ips = [n.get("IPAddress") for n in (settings.get("Networks") or {}).values()]
                ip = settings.get("IPAddress") or next((i for i in ips if i), None)
                self._url = f"http://{ip}:{PORT}" if ip else None
            else:
                bound = (settings.get("Ports") or {}).get(f"{PORT}/tcp") or []
                port = next((b["HostPort"] for b in bound if b.get("HostPort")), None)
                self._url = f"http://127.0.0.1:{port}" if port else None
        return self._url

    def exited(self) -> str | None:
        self._container.reload()
        state = self._container.attrs["State"]
        if state.get("Status") in ("exited", "dead"):
            return f"container {self.name} exited with code {state.get('ExitCode')}"
        return None

    def log_tail(self, lines: int = 20) -> str:
        return self._container.logs(tail=lines).decode(errors="replace")


def _tar(directory: str, name: str) -> bytes:
    """`directory` as a tar archive under `name`, links followed (the staged registry links
    to the model), owned by the server image's user."""

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = IMAGE_UID
        info.uname = info.gname = ""
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", dereference=True) as tar:
        tar.add(directory, arcname=name, filter=owned)
    return buffer.getvalue()


class KubernetesServer(Server):
    """The server image as a pod beside the step (InfraValidator's Kubernetes mode). The pod
    reads the candidate from `registry` (a bucket URI: it cannot see the step's disk) and is
    owned by the step's pod when that can be read, so it goes when the step does; it also
    ends by itself after `deadline_seconds`. The step reaches it at its pod IP."""

    def __init__(
        self,
        kube,
        namespace: str,
        image: str,
        registry: str,
        model: str,
        service_account: str | None,
        deadline_seconds: int,
        port: int | None = None,
    ):
        self.kube, self.namespace, self.port = kube, namespace, port or PORT
        self.name = NAME_PREFIX + uuid.uuid4().hex[:8]
        self.body = server_pod(
            self.name, image, registry, model, service_account, deadline_seconds, self.port
        )
        self._pod: dict = {}

    def __enter__(self) -> KubernetesServer:
        owner = _own_pod(self.kube, self.namespace)
        if owner is not None:
            self.body["metadata"]["ownerReferences"] = [owner]
        self.kube.create_pod(self.namespace, self.body)
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(NotFound):
            self.kube.delete_pod(self.namespace, self.name)

    def exited(self) -> str | None:
        self._pod = self.kube.read_pod(self.namespace, self.name)
        phase = self._pod.get("status", {}).get("phase")
        if phase in ("Failed", "Succeeded"):
            return f"pod {self.name} ended in phase {phase}"
        return None

    def address(self) -> str | None:
        ip = self._pod.get("status", {}).get("podIP")
        return f"http://{ip}:{self.port}" if ip else None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.kube.read_pod_log(self.namespace, self.name)
        except Exception as e:  # not started yet, or gone: say so rather than hide the cause
            return f"(no log of pod {self.name}: {e})\n"
        return "".join(text.splitlines(keepends=True)[-lines:])


def server_pod(
    name: str,
    image: str,
    registry: str,
    model: str,
    service_account: str | None,
    deadline_seconds: int,
    port: int = PORT,
) -> dict:
    """The pod manifest: the server image as the non-root user, nothing it does not need."""
    spec = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": deadline_seconds,
        # It reads the bucket through Workload Identity, never the Kubernetes API.
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": IMAGE_UID,
            "runAsGroup": IMAGE_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "server",
                "image": image,
                "args": [*server_args(registry, model), "--port", str(port)],
                "ports": [{"name": "http", "containerPort": port}],
                "readinessProbe": {
                    "httpGet": {"path": "/v2/health/ready", "port": port},
                    "periodSeconds": 2,
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": spec,
    }


def own_namespace(default: str) -> str:
    """The namespace of the pod this runs in (its service account's), else `default`."""
    try:
        with open(os.path.join(SERVICE_ACCOUNT_DIR, "namespace")) as f:
            return f.read().strip() or default
    except OSError:
        return default


def _own_pod(kube, namespace: str) -> dict | None:
    """An ownerReference to this step's pod (its name is the hostname), if it can be read."""
    name = os.environ.get("HOSTNAME")
    if not name:
        return None
    try:
        pod = kube.read_pod(namespace, name)
    except Exception:  # not a pod of this namespace (a test, a local run): no owner
        return None
    uid = pod.get("metadata", {}).get("uid")
    if not uid:
        return None
    return {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}


def stage_remote(model_dir: str, root: str, model: str) -> str:
    """A one-version registry in the bucket under `root` holding a copy of the candidate (the
    pod reads it there); the caller removes it."""
    registry = fileio.join(root, "infra-validate", uuid.uuid4().hex[:12])
    fileio.copy_tree(model_dir, fileio.join(registry, model, "1"))
    return registry
