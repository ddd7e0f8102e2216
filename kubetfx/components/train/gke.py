"""The GKE launcher's control loop: start the workers, follow them, always clean up.

The train step (a KFP pod) creates the worker Job and its headless Service (or one JobSet),
polls the worker pods, copies their logs into its own log with a `[worker-i]` prefix and a
progress line whenever a pod changes phase, and returns when every worker has succeeded. A
worker that fails (non-zero exit, OOMKilled, an image that cannot be pulled...) fails the
step at once, naming the pod and the reason; so does the timeout. Whatever happens, the
objects it created are deleted (their pods with them).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable

from kubetfx.components.k8s import Kube
from kubetfx.components.train import gke_manifests as manifests
from kubetfx.errors import KubeError, NotFound, TrainingFailed

# Container states that never recover by waiting.
FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
}


def run(
    kube: Kube,
    launch: manifests.Launch,
    poll_seconds: float,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Train on the cluster; raise TrainingFailed unless every worker succeeded."""
    created: list[tuple[str, str]] = []
    ns = launch.namespace
    with _sigterm_unwinds():
        try:
            if launch.use_jobset:
                kube.create_jobset(ns, manifests.jobset(launch))
                created.append(("jobset", launch.name))
            else:
                job = kube.create_job(ns, manifests.job(launch))
                created.append(("job", launch.name))
                kube.create_service(ns, manifests.service(launch, owner=job))
                created.append(("service", launch.name))
            out(
                f"[train] launched {launch.workers} worker(s) as "
                f"{'JobSet' if launch.use_jobset else 'Job'} {ns}/{launch.name}"
            )
            _follow(kube, launch, poll_seconds, out, sleep, clock)
        finally:
            _cleanup(kube, ns, created, out)


@contextlib.contextmanager
def _sigterm_unwinds():
    """A cancelled KFP run deletes the step's pod (SIGTERM): unwind through the cleanup."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def cancelled(signum, frame):
        raise TrainingFailed("cancelled: the step received SIGTERM (its run was stopped)")

    previous = signal.signal(signal.SIGTERM, cancelled)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _follow(kube, launch, poll_seconds, out, sleep, clock) -> None:
    deadline = clock() + launch.timeout_seconds
    logs = _Logs(kube, launch.namespace, out)
    phases: dict[str, str] = {}
    while True:
        pods = kube.list_pods(launch.namespace, launch.selector)
        current = {p["metadata"]["name"]: p.get("status", {}).get("phase", "Pending") for p in pods}
        if current != phases:
            phases = current
            counts = ", ".join(
                f"{sum(1 for v in phases.values() if v == phase)} {phase.lower()}"
                for phase in sorted(set(phases.values()))
            )
            out(f"[train] {len(phases)}/{launch.workers} worker pod(s): {counts or 'none yet'}")
        logs.update(pods)
        for pod in pods:
            reason = pod_failure(pod)
            if reason:
                raise TrainingFailed(
                    f"worker pod {pod['metadata']['name']} failed: {reason}; "
                    f"see its log above (namespace {launch.namespace})"
                )
        state = _state(kube, launch)
        if state == "succeeded":
            out(f"[train] all {launch.workers} worker(s) succeeded")
            return
        if state:
            raise TrainingFailed(f"{launch.name} failed: {state}")
        if clock() >= deadline:
            raise TrainingFailed(
                f"timed out after {launch.timeout_seconds}s (train.timeout_seconds); "
                f"worker pods: {phases or 'none started'}"
            )
        sleep(poll_seconds)


def pod_failure(pod: dict) -> str | None:
    """Why a worker pod failed (or will never run), or None while it is fine."""
    status = pod.get("status", {})
    for container in status.get("containerStatuses", []) or []:
        state = container.get("state", {})
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode", 0) != 0:
            reason = terminated.get("reason") or "Error"
            return f"container {container['name']} {reason} (exit code {terminated['exitCode']})"
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") in FATAL_WAITING:
            message = f": {waiting['message']}" if waiting.get("message") else ""
            return f"container {container['name']} {waiting['reason']}{message}"
    if status.get("phase") == "Failed":
        return f"{status.get('reason') or 'Failed'}: {status.get('message') or 'no message'}"
    return None


def _state(kube: Kube, launch: manifests.Launch) -> str | None:
    """'succeeded', a failure message, or None while running."""
    if launch.use_jobset:
        status = kube.read_jobset(launch.namespace, launch.name).get("status", {})
        done = {"Completed": "succeeded", "Failed": "failed"}
    else:
        status = kube.read_job(launch.namespace, launch.name).get("status", {})
        if status.get("succeeded", 0) >= launch.workers:
            return "succeeded"
        done = {"Complete": "succeeded", "Failed": "failed"}
    for condition in status.get("conditions", []) or []:
        outcome = done.get(condition.get("type"))
        if outcome and condition.get("status") == "True":
            if outcome == "succeeded":
                return outcome
            return f"{condition.get('reason', 'Failed')}: {condition.get('message', '')}".strip()
    return None


class _Logs:
    """Copies each worker's new log lines into the step's log, prefixed by the worker."""

    def __init__(self, kube: Kube, namespace: str, out: Callable[[str], None]):
        self.kube, self.namespace, self.out = kube, namespace, out
        self.printed: dict[str, int] = {}

    def update(self, pods: list[dict]) -> None:
        for pod in pods:
            if pod.get("status", {}).get("phase") not in ("Running", "Succeeded", "Failed"):
                continue
            name = pod["metadata"]["name"]
            try:
                lines = self.kube.read_pod_log(self.namespace, name).splitlines()
            except KubeError as e:  # a log that is not there yet; the next poll retries
                self.out(f"[train] no log yet from {name}: {e}")
                continue
            index = (
                pod["metadata"]
                .get("annotations", {})
                .get("batch.kubernetes.io/job-completion-index", name)
            )
            for line in lines[self.printed.get(name, 0) :]:
                self.out(f"[worker-{index}] {line}")
            self.printed[name] = len(lines)


def _cleanup(kube: Kube, namespace: str, created: list[tuple[str, str]], out) -> None:
    """Delete what was created, newest first; never hide the error that got us here."""
    delete = {"job": kube.delete_job, "service": kube.delete_service, "jobset": kube.delete_jobset}
    for kind, name in reversed(created):
        try:
            delete[kind](namespace, name)
            out(f"[train] deleted {kind} {namespace}/{name}")
        except NotFound:
            pass  # already gone (the Service goes with its owner Job)
        except KubeError as e:
            out(
                f"[train] could not delete {kind} {namespace}/{name}: {e}; the cluster deletes "
                "it after train.gke.ttl_seconds_after_finished"
            )
