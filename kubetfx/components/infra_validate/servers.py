"""Where infra validation serves the candidate: the model server image in a container, a pod or
a temporary Vertex AI endpoint, or the server's Python environment in a subprocess (TFX
InfraValidator's serving platforms).

Each is a context manager giving a `kubetfx.serving.process.Server`: its URL once it has one,
why it stopped if it did, and the tail of its log. Leaving the `with` removes whatever was
started (the container, the pod and the candidate copy it read), also when validation fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import socket
import tarfile
import time
import uuid

from kubetfx.components import fileio
from kubetfx.errors import ConfigError, NotFound, ServerFailed
from kubetfx.serving.process import Server, ServerProcess, serving_python

PORT = 8080  # the server image's REST port (infra/docker/server.Dockerfile)
IMAGE_UID = 10001  # the server image's user
NAME_PREFIX = "kubetfx-infra-validate-"
LABELS = {"app.kubernetes.io/part-of": "kubetfx", "app.kubernetes.io/component": "infra-validator"}
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclasses.dataclass(frozen=True)
class VertexSettings:
    project: str | None
    location: str | None
    machine_type: str
    tf_serving: bool  # serve in Vertex's TF Serving image (what a push to Vertex deploys)
    tf_serving_image: str | None = None  # push.vertex.serving_image; None: the prebuilt one


@dataclasses.dataclass(frozen=True)
class Platform:
    """What the modes beyond 'subprocess' need, from the run's config."""

    image: str | None = None  # images.server
    staging_root: str | None = None  # a bucket the pod or endpoint reads the candidate from
    model_uri: str | None = None  # the candidate's own URI (gs://...)
    vertex: VertexSettings | None = None
    kube: object = None  # the Kubernetes API (default Kube.connect(); tests pass a fake)
    sdk: object = None  # google.cloud.aiplatform (default the real one; tests pass a fake)


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


def _tar(directory: str, name: str, out=None) -> bytes | None:
    """`directory` as a tar archive under `name` (into the file `out`, else returned), links
    followed (the staged registry links to the model), owned by the server image's user."""

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = IMAGE_UID
        info.uname = info.gname = ""
        return info

    buffer = out or io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", dereference=True) as tar:
        tar.add(directory, arcname=name, filter=owned)
    return None if out else buffer.getvalue()


# The server pod's init container: download the candidate from the step and unpack it into
# the pod's emptyDir (the server image's Python; no other tool is in it).
FETCH = (
    "import sys, tarfile, urllib.request\n"
    "kw = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}\n"
    "with urllib.request.urlopen(sys.argv[1], timeout=600) as r:\n"
    "    tarfile.open(fileobj=r, mode='r|').extractall(sys.argv[2], **kw)\n"
)
CANDIDATE_DIR = "/candidate"  # the emptyDir the server reads the candidate from


class CandidateOffer:
    """The staged registry offered over HTTP, as one tar, to the server pod's init container:
    no bucket or volume is shared between the step and the pod (a kind cluster has neither).
    A random path keeps other pods from guessing it; it is offered only while the step waits
    for the pod."""

    def __init__(self, registry: str, host: str):
        import http.server
        import shutil
        import tempfile
        import threading

        self._dir = tempfile.mkdtemp(prefix="kubetfx-candidate-")
        archive = os.path.join(self._dir, "candidate.tar")
        with open(archive, "wb") as f:
            _tar(registry, "registry", f)
        size, self.path = os.path.getsize(archive), f"/{uuid.uuid4().hex}/candidate.tar"
        offer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # http.server's name for it
                if self.path != offer.path:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                with open(archive, "rb") as f:
                    shutil.copyfileobj(f, self.wfile)

            def log_message(self, *args):  # the step's log shows the outcome, not each GET
                pass

        # On the step's pod IP only: the address the server pod is given.
        self._httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self._httpd.server_address[1]}{self.path}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        import shutil

        self._httpd.shutdown()
        self._httpd.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)


class KubernetesServer(Server):
    """The server image as a pod beside the step (InfraValidator's Kubernetes mode). Its init
    container fetches the candidate from this step over the pod network (CandidateOffer), so
    the pod needs no bucket access and no API token. It is owned by the step's pod when that
    can be read, so it goes when the step does, and it ends by itself after
    `deadline_seconds`. The step reaches the server at its pod IP."""

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
        self.image, self.registry, self.model = image, registry, model
        self.service_account, self.deadline = service_account, deadline_seconds
        self.name = NAME_PREFIX + uuid.uuid4().hex[:8]
        self.body: dict = {}
        self._pod: dict = {}
        self._offer: CandidateOffer | None = None

    def __enter__(self) -> KubernetesServer:
        step = _own_pod(self.kube, self.namespace)
        self._offer = CandidateOffer(self.registry, step_address(step))
        try:
            self.body = server_pod(
                self.name, self.image, self._offer.url, self.model,
                self.service_account, self.deadline, self.port,
            )  # fmt: skip
            if step is not None:
                self.body["metadata"]["ownerReferences"] = [step["owner"]]
            self.kube.create_pod(self.namespace, self.body)
        except BaseException:
            self._offer.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            with contextlib.suppress(NotFound):
                self.kube.delete_pod(self.namespace, self.name)
        finally:
            self._offer.close()

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
        tails = []
        for container in ("fetch-candidate", "server"):
            try:
                text = self.kube.read_pod_log(self.namespace, self.name, container)
            except Exception as e:  # not started yet, or gone: say so rather than hide it
                text = f"(no log: {e})\n"
            tail = "".join(text.splitlines(keepends=True)[-lines:])
            tails.append(f"[{container}]\n{tail}" if tail.strip() else "")
        return "".join(tails)


def server_pod(
    name: str,
    image: str,
    fetch_url: str,
    model: str,
    service_account: str | None,
    deadline_seconds: int,
    port: int = PORT,
) -> dict:
    """The pod manifest: an init container fetching the candidate into an emptyDir, then the
    server on it, as the image's non-root user, with nothing it does not need."""
    locked = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    volume = {"name": "candidate", "mountPath": CANDIDATE_DIR}
    spec = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": deadline_seconds,
        # It never talks to the Kubernetes API.
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": IMAGE_UID,
            "runAsGroup": IMAGE_UID,
            "fsGroup": IMAGE_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumes": [{"name": "candidate", "emptyDir": {}}],
        "initContainers": [
            {
                "name": "fetch-candidate",
                "image": image,
                "command": ["python", "-c", FETCH],
                "args": [fetch_url, CANDIDATE_DIR],
                "volumeMounts": [volume],
                "securityContext": locked,
            }
        ],
        "containers": [
            {
                "name": "server",
                "image": image,
                "args": [*server_args(f"{CANDIDATE_DIR}/registry", model), "--port", str(port)],
                "ports": [{"name": "http", "containerPort": port}],
                "readinessProbe": {
                    "httpGet": {"path": "/v2/health/ready", "port": port},
                    "periodSeconds": 2,
                },
                "volumeMounts": [{**volume, "readOnly": True}],
                "securityContext": locked,
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


def step_address(step: dict | None) -> str:
    """The IP other pods reach this step at: its pod's, else its hostname's (a pod's
    /etc/hosts maps it to the pod IP)."""
    return (step or {}).get("ip") or socket.gethostbyname(socket.gethostname())


def own_namespace(default: str) -> str:
    """The namespace of the pod this runs in (its service account's), else `default`."""
    try:
        with open(os.path.join(SERVICE_ACCOUNT_DIR, "namespace")) as f:
            return f.read().strip() or default
    except OSError:
        return default


def _own_pod(kube, namespace: str) -> dict | None:
    """This step's pod (its name is the hostname), if it can be read: its IP, and an
    ownerReference to it."""
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
    owner = {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}
    return {"owner": owner, "ip": pod.get("status", {}).get("podIP")}


def stage_remote(model_dir: str, root: str, model: str) -> str:
    """A one-version registry in the bucket under `root` holding a copy of the candidate (the
    pod reads it there); the caller removes it."""
    registry = fileio.join(root, "infra-validate", uuid.uuid4().hex[:12])
    fileio.copy_tree(model_dir, fileio.join(registry, model, "1"))
    return registry


class VertexServer(Server):
    """The candidate on a temporary Vertex AI endpoint, deployed as a push would deploy it
    (Vertex steps have no engine and no cluster to start a server in): with Vertex's TF
    Serving image when push.destination is 'vertex' (the model uploaded as it is), else with
    images.server as a custom container reading `registry` (a staged copy in the bucket).
    Requests go through the endpoint's rawPredict, so the TF Serving REST bodies arrive
    unchanged. Leaving the `with` undeploys and deletes the endpoint and the model, whatever
    happened; a deployment that fails is a candidate that did not serve (not blessed).
    Vertex's own deployment timeout applies, not ready_timeout_seconds."""

    def __init__(self, platform: Platform, model: str, registry: str | None = None):
        from kubetfx.components.gcp import aiplatform

        settings = platform.vertex
        required = {"vertex.project": settings.project, "vertex.region": settings.location}
        for key, value in required.items():
            if not value:
                raise ConfigError(f"{key}: required for infra_validate.mode 'vertex'")
        self.sdk = platform.sdk or aiplatform()
        self.settings, self.platform, self.registry = settings, platform, registry
        self.model = model
        self.where = {"project": settings.project, "location": settings.location}
        self.name = NAME_PREFIX + uuid.uuid4().hex[:8]
        self._model = self._endpoint = None

    def __enter__(self) -> VertexServer:
        return self

    def _container(self) -> dict:
        from kubetfx.components.gcp import vertex_serving_image

        if self.settings.tf_serving:
            image = vertex_serving_image(
                self.sdk, self.settings.tf_serving_image, self.settings.location
            )
            return {"artifact_uri": self.platform.model_uri, "serving_container_image_uri": image}
        return {
            "serving_container_image_uri": self.platform.image,
            "serving_container_args": server_args(self.registry, self.model),
            "serving_container_ports": [PORT],
            "serving_container_predict_route": f"/v1/models/{self.model}:predict",
            "serving_container_health_route": f"/v2/models/{self.model}/ready",
        }

    def wait_available(self, model: str, timeout: float, version: int | None = None) -> float:
        from kubetfx.components.gcp import api_errors

        start = time.monotonic()
        labels = {"kubetfx": "infra-validate"}
        with api_errors(ServerFailed, f"deploying the candidate to Vertex AI endpoint {self.name}"):
            self._model = self.sdk.Model.upload(
                display_name=self.name, labels=labels, sync=True, **self._container(), **self.where
            )
            self._endpoint = self.sdk.Endpoint.create(
                display_name=self.name, labels=labels, **self.where
            )
            self._endpoint.deploy(
                model=self._model,
                deployed_model_display_name=self.name,
                traffic_percentage=100,
                machine_type=self.settings.machine_type,
                min_replica_count=1,
                max_replica_count=1,
                sync=True,
            )
        return time.monotonic() - start

    def predict(self, model: str, body: dict, timeout: float = 60) -> tuple[int, object]:
        response = self._endpoint.raw_predict(
            body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def address(self) -> str | None:
        return getattr(self._endpoint, "resource_name", None)

    def exited(self) -> str | None:
        return None

    def log_tail(self, lines: int = 20) -> str:
        return f"(see the logs of endpoint {self.name} in Cloud Logging)\n"

    def __exit__(self, *exc) -> None:
        import logging

        log = logging.getLogger("kubetfx.infra_validate")
        for what, call in (
            ("undeploy", lambda: self._endpoint and self._endpoint.undeploy_all(sync=True)),
            ("delete endpoint", lambda: self._endpoint and self._endpoint.delete(sync=True)),
            ("delete model", lambda: self._model and self._model.delete(sync=True)),
        ):
            try:
                call()
            except Exception as e:  # leave nothing silently: say what to remove by hand
                log.warning("could not %s %s: %s (remove it by hand)", what, self.name, e)
