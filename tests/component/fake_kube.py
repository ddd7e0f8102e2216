"""A fake of kubetfx.components.k8s.Kube: no cluster exists here, so the API surface is faked.

It has exactly Kube's method signatures (a test checks), records every call, keeps the
objects created, applies merge patches as the API server does (RFC 7386), and plays a script
of worker pod states: each `list_pods` call moves to the next tick (the last one repeats).
"""

from __future__ import annotations

import copy
import itertools

import yaml

from kubetfx.components.k8s import KubeError, NotFound
from tests.infra.files import K8S

_uids = itertools.count(1)


def granted(rbac_file: str) -> set[tuple[str, str, str]]:
    """Every (API group, resource, verb) the Roles in infra/k8s/rbac/<rbac_file> grant."""
    return {
        (group, resource, verb)
        for doc in yaml.safe_load_all((K8S / "rbac" / rbac_file).read_text())
        if doc["kind"] == "Role"
        for rule in doc["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: objects merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def pod(name: str, index: int, phase: str, **container_state) -> dict:
    """A worker pod as the API returns it (camelCase), with one container `worker`."""
    state = container_state or ({"running": {}} if phase == "Running" else {})
    return {
        "metadata": {
            "name": name,
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
        },
        "status": {"phase": phase, "containerStatuses": [{"name": "worker", "state": state}]},
    }


class FakeKube:
    def __init__(self, ticks: list[dict] | None = None, fail: dict[str, Exception] | None = None):
        self.ticks = ticks or [{"pods": [], "status": {}}]
        self.tick = -1
        self.fail = fail or {}
        self.calls: list[tuple[str, tuple]] = []
        self.objects: dict[tuple[str, str], dict] = {}
        self.isvc_status = None  # callable(obj) -> status, for InferenceServices
        self.pod_status = None  # callable(obj) -> status, for single pods (read_pod)

    def _record(self, method: str, *args):
        self.calls.append((method, args))
        if method in self.fail:
            raise self.fail[method]

    def called(self, method: str) -> list[tuple]:
        return [args for name, args in self.calls if name == method]

    def _create(self, kind: str, body: dict) -> dict:
        key = (kind, body["metadata"]["name"])
        if key in self.objects:
            raise KubeError(f"{kind} {key[1]} already exists", 409)
        obj = copy.deepcopy(body)
        obj["metadata"].update(uid=f"uid-{next(_uids)}", generation=1)
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def _delete(self, kind: str, name: str) -> None:
        if self.objects.pop((kind, name), None) is None:
            raise NotFound(f"{kind} {name} not found", 404)

    def _read(self, kind: str, name: str) -> dict:
        if (kind, name) not in self.objects:
            raise NotFound(f"{kind} {name} not found", 404)
        return copy.deepcopy(self.objects[(kind, name)])

    def _current(self) -> dict:
        return self.ticks[min(max(self.tick, 0), len(self.ticks) - 1)]

    # The Kube surface.
    def create_job(self, namespace: str, body: dict) -> dict:
        self._record("create_job", namespace, body)
        return self._create("Job", body)

    def read_job(self, namespace: str, name: str) -> dict:
        self._record("read_job", namespace, name)
        return {**self._read("Job", name), "status": self._current().get("status", {})}

    def delete_job(self, namespace: str, name: str) -> None:
        self._record("delete_job", namespace, name)
        self._delete("Job", name)

    def create_service(self, namespace: str, body: dict) -> dict:
        self._record("create_service", namespace, body)
        return self._create("Service", body)

    def delete_service(self, namespace: str, name: str) -> None:
        self._record("delete_service", namespace, name)
        self._delete("Service", name)

    def list_pods(self, namespace: str, label_selector: str) -> list[dict]:
        self._record("list_pods", namespace, label_selector)
        self.tick += 1
        return copy.deepcopy(self._current().get("pods", []))

    def read_pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        self._record("read_pod_log", namespace, name)
        return self._current().get("logs", {}).get(name, "")

    def create_pod(self, namespace: str, body: dict) -> dict:
        self._record("create_pod", namespace, body)
        return self._create("Pod", body)

    def read_pod(self, namespace: str, name: str) -> dict:
        self._record("read_pod", namespace, name)
        obj = self._read("Pod", name)
        if self.pod_status is not None:
            obj["status"] = self.pod_status(obj)
        return obj

    def delete_pod(self, namespace: str, name: str) -> None:
        self._record("delete_pod", namespace, name)
        self._delete("Pod", name)

    def create_jobset(self, namespace: str, body: dict) -> dict:
        self._record("create_jobset", namespace, body)
        return self._create("JobSet", body)

    def read_jobset(self, namespace: str, name: str) -> dict:
        self._record("read_jobset", namespace, name)
        return {**self._read("JobSet", name), "status": self._current().get("status", {})}

    def delete_jobset(self, namespace: str, name: str) -> None:
        self._record("delete_jobset", namespace, name)
        self._delete("JobSet", name)

    def create_inference_service(self, namespace: str, body: dict) -> dict:
        self._record("create_inference_service", namespace, body)
        return self._create("InferenceService", body)

    def read_inference_service(self, namespace: str, name: str) -> dict:
        self._record("read_inference_service", namespace, name)
        obj = self._read("InferenceService", name)
        if self.isvc_status is not None:
            obj["status"] = self.isvc_status(obj)
        return obj

    def patch_inference_service(self, namespace: str, name: str, patch: dict) -> dict:
        self._record("patch_inference_service", namespace, name, patch)
        obj = merge_patch(self._read("InferenceService", name), patch)
        obj["metadata"]["generation"] += 1
        self.objects[("InferenceService", name)] = obj
        return copy.deepcopy(obj)
