"""The small part of the Kubernetes API kubetfx calls, behind one injectable class.

The GKE training launcher (components/train/gke.py), the KServe pusher
(components/push/kserve.py) and infra validation's pod (components/infra_validate/servers.py)
talk to the cluster only through `Kube`; tests pass a fake with
the same methods. `PERMISSIONS` names the RBAC rule each method needs: the Roles in
infra/k8s/rbac/ grant exactly these (a test checks it).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from kubetfx.components.retry import with_retries
from kubetfx.errors import KubeError, NotFound

JOBSET = ("jobset.x-k8s.io", "v1alpha2", "jobsets")
INFERENCE_SERVICE = ("serving.kserve.io", "v1beta1", "inferenceservices")

# method -> (API group, resource, verb): what the service account running it must be granted.
PERMISSIONS: dict[str, tuple[str, str, str]] = {
    "create_job": ("batch", "jobs", "create"),
    "read_job": ("batch", "jobs", "get"),
    "delete_job": ("batch", "jobs", "delete"),
    "create_service": ("", "services", "create"),
    "delete_service": ("", "services", "delete"),
    "list_pods": ("", "pods", "list"),
    "read_pod_log": ("", "pods/log", "get"),
    "create_pod": ("", "pods", "create"),
    "read_pod": ("", "pods", "get"),
    "delete_pod": ("", "pods", "delete"),
    "create_jobset": (JOBSET[0], JOBSET[2], "create"),
    "read_jobset": (JOBSET[0], JOBSET[2], "get"),
    "delete_jobset": (JOBSET[0], JOBSET[2], "delete"),
    "create_inference_service": (INFERENCE_SERVICE[0], INFERENCE_SERVICE[2], "create"),
    "read_inference_service": (INFERENCE_SERVICE[0], INFERENCE_SERVICE[2], "get"),
    "patch_inference_service": (INFERENCE_SERVICE[0], INFERENCE_SERVICE[2], "patch"),
}


class Kube:
    """Typed calls of the official `kubernetes` client, answering plain dicts (as in YAML)."""

    def __init__(self, api_client=None, sleep=time.sleep):
        from kubernetes import client

        self.sleep = sleep  # between retries (tests pass a recorder)
        self._client = api_client or client.ApiClient()
        self._batch = client.BatchV1Api(self._client)
        self._core = client.CoreV1Api(self._client)
        self._custom = client.CustomObjectsApi(self._client)

    @classmethod
    def connect(cls) -> Kube:
        """In a pod: its service account; elsewhere: the current kubeconfig context."""
        from kubernetes import config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            try:
                config.load_kube_config()
            except (config.ConfigException, OSError) as e:
                raise KubeError(
                    "no Kubernetes credentials: not in a pod with a service account, and no "
                    f"usable kubeconfig ({e})"
                ) from e
        return cls()

    def _dict(self, obj: Any) -> dict:
        return self._client.sanitize_for_serialization(obj)

    def _retried(self, action: str, namespace: str, call, as_dict: bool = True):
        """A read or a merge patch (the same request twice gives the same answer), sent again
        with backoff while the API fails transiently (no answer, 429, 5xx). Creates and
        deletes are sent once: a create that timed out may have happened."""

        def attempt():
            with _errors(action, namespace):
                answer = call()
            return self._dict(answer) if as_dict else answer

        return with_retries(attempt, f"Kubernetes: {action} in {namespace}", sleep=self.sleep)

    # batch/v1 Jobs, core/v1 Services, Pods and their logs (the training launcher).
    def create_job(self, namespace: str, body: dict) -> dict:
        with _errors("create Job", namespace):
            return self._dict(self._batch.create_namespaced_job(namespace, body))

    def read_job(self, namespace: str, name: str) -> dict:
        return self._retried(
            f"read Job {name}", namespace, lambda: self._batch.read_namespaced_job(name, namespace)
        )

    def delete_job(self, namespace: str, name: str) -> None:
        # Background propagation: the Job's pods go too (the API default orphans them).
        with _errors(f"delete Job {name}", namespace):
            self._batch.delete_namespaced_job(name, namespace, propagation_policy="Background")

    def create_service(self, namespace: str, body: dict) -> dict:
        with _errors("create Service", namespace):
            return self._dict(self._core.create_namespaced_service(namespace, body))

    def delete_service(self, namespace: str, name: str) -> None:
        with _errors(f"delete Service {name}", namespace):
            self._core.delete_namespaced_service(name, namespace)

    def list_pods(self, namespace: str, label_selector: str) -> list[dict]:
        pods = self._retried(
            f"list pods {label_selector}",
            namespace,
            lambda: self._core.list_namespaced_pod(namespace, label_selector=label_selector),
            as_dict=False,
        )
        return [self._dict(pod) for pod in pods.items]

    def read_pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        """The log of the pod's (only, or named) container."""
        return self._retried(
            f"read the log of pod {name}",
            namespace,
            lambda: self._core.read_namespaced_pod_log(name, namespace, container=container),
            as_dict=False,
        )

    # One pod (infra validation's model server).
    def create_pod(self, namespace: str, body: dict) -> dict:
        with _errors("create Pod", namespace):
            return self._dict(self._core.create_namespaced_pod(namespace, body))

    def read_pod(self, namespace: str, name: str) -> dict:
        return self._retried(
            f"read Pod {name}", namespace, lambda: self._core.read_namespaced_pod(name, namespace)
        )

    def delete_pod(self, namespace: str, name: str) -> None:
        with _errors(f"delete Pod {name}", namespace):
            self._core.delete_namespaced_pod(name, namespace, grace_period_seconds=5)

    # JobSets (jobset.x-k8s.io), where the JobSet controller is installed.
    def create_jobset(self, namespace: str, body: dict) -> dict:
        with _errors("create JobSet", namespace):
            return self._custom.create_namespaced_custom_object(
                namespace=namespace, body=body, **_crd(JOBSET)
            )

    def read_jobset(self, namespace: str, name: str) -> dict:
        return self._retried(
            f"read JobSet {name}",
            namespace,
            lambda: self._custom.get_namespaced_custom_object(
                namespace=namespace, name=name, **_crd(JOBSET)
            ),
        )

    def delete_jobset(self, namespace: str, name: str) -> None:
        with _errors(f"delete JobSet {name}", namespace):
            self._custom.delete_namespaced_custom_object(
                namespace=namespace, name=name, propagation_policy="Background", **_crd(JOBSET)
            )

    # KServe InferenceServices (the pusher, `kubetfx promote|rollback`).
    def create_inference_service(self, namespace: str, body: dict) -> dict:
        with _errors("create InferenceService", namespace):
            return self._custom.create_namespaced_custom_object(
                namespace=namespace, body=body, **_crd(INFERENCE_SERVICE)
            )

    def read_inference_service(self, namespace: str, name: str) -> dict:
        return self._retried(
            f"read InferenceService {name}",
            namespace,
            lambda: self._custom.get_namespaced_custom_object(
                namespace=namespace, name=name, **_crd(INFERENCE_SERVICE)
            ),
        )

    def patch_inference_service(self, namespace: str, name: str, patch: dict) -> dict:
        """A JSON merge patch (RFC 7386: a null removes a field): the same patch twice gives
        the same object, so a transient failure is retried."""
        return self._retried(
            f"patch InferenceService {name}",
            namespace,
            lambda: self._custom.patch_namespaced_custom_object(
                namespace=namespace, name=name, body=patch, **_crd(INFERENCE_SERVICE)
            ),
        )


def _crd(kind: tuple[str, str, str]) -> dict[str, str]:
    group, version, plural = kind
    return {"group": group, "version": version, "plural": plural}


@contextlib.contextmanager
def _errors(action: str, namespace: str):
    """ApiException -> NotFound / KubeError saying what was attempted, where, and why."""
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as e:
        kind = NotFound if e.status == 404 else KubeError
        hint = " (check the RBAC in infra/k8s/rbac/)" if e.status == 403 else ""
        raise kind(
            f"Kubernetes refused to {action} in namespace {namespace}: {e.status} {e.reason}{hint}",
            e.status,
        ) from e
