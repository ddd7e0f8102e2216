"""Training on the cluster: the GKE launcher's manifests and control loop, Vertex worker pools.

The generated Job and Service are checked against the Kubernetes schemas, the JobSet against
its published CRD; the control loop runs against a fake of the Kubernetes API surface (no
cluster here); the Vertex CustomJob is built by the real SDK with anonymous credentials
(nothing is sent).
"""

from __future__ import annotations

import inspect
import json

import kubernetes_validate
import pytest
import yaml

from kubetfx.components.config import PipelineConfig
from kubetfx.components.k8s import PERMISSIONS, Kube, KubeError
from kubetfx.components.train import gke, gke_manifests, remote, vertex
from kubetfx.components.train.core import TrainResult
from kubetfx.errors import ConfigError, TrainingFailed
from tests.component.fake_kube import FakeKube, granted, pod
from tests.infra.test_manifests import KUBERNETES_VERSION, _validate_custom

URIS = {
    "transformed-examples": "gs://b/run/transform/transformed_examples",
    "transform-graph": "gs://b/run/transform/transform_graph",
    "schema": "gs://b/run/schema/schema",
    "model": "gs://b/run/train/model",
    "model-run": "gs://b/run/train/model_run",
}


def _cfg(train=None, steps=None, **top) -> PipelineConfig:
    raw = {
        "pipeline_root": "gs://b/root",
        "vertex": {"project": "p", "region": "europe-west4"},
        "images": {"components": "registry.example/kubetfx-components@sha256:abc"},
        "train": {"backend": "gke", "workers": 3, **(train or {})},
        **top,
    }
    if steps is not None:
        raw["cluster"] = {"steps": {"train": steps}}
    return PipelineConfig.model_validate(raw)


def _launch(cfg: PipelineConfig, name: str = "kubetfx-train-0a1b2c3d") -> gke_manifests.Launch:
    return gke_manifests.plan(cfg, name, remote.worker_args(cfg, URIS))


def _expand(template: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of an env value from the variables before it."""
    for key, value in env.items():
        template = template.replace(f"$({key})", value)
    return template


# Manifests.


def test_tf_config_names_every_worker_by_its_stable_hostname():
    launch = _launch(_cfg())
    template = gke_manifests.pod_template(launch)
    (container,) = template["spec"]["containers"]
    env = container["env"]
    assert env[0]["name"] == gke_manifests.INDEX_ENV  # defined before TF_CONFIG uses it
    assert env[0]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    tf_config = next(e["value"] for e in env if e["name"] == "TF_CONFIG")
    expected = [f"{launch.name}-{i}.{launch.name}.kubeflow.svc:2222" for i in range(3)]
    for index in range(3):
        parsed = json.loads(_expand(tf_config, {gke_manifests.INDEX_ENV: str(index)}))
        assert parsed == {
            "cluster": {"worker": expected},
            "task": {"type": "worker", "index": index},
        }
    # Indexed Job pods are named {job}-{index}; the subdomain is the headless Service.
    assert template["spec"]["subdomain"] == launch.name


def test_the_workers_train_locally_on_the_bucket_uris():
    launch = _launch(_cfg())
    (container,) = gke_manifests.pod_template(launch)["spec"]["containers"]
    assert container["command"] == ["python", "-m", "kubetfx.components.train"]
    args = container["args"]
    worker_cfg = PipelineConfig.from_json(args[args.index("--config-json") + 1])
    assert (worker_cfg.train.backend, worker_cfg.train.workers) == ("local", 1)
    assert args[args.index("--model") + 1] == URIS["model"]
    assert container["image"] == "registry.example/kubetfx-components@sha256:abc"


def test_job_and_headless_service_match_the_kubernetes_schema():
    launch = _launch(_cfg())
    job = gke_manifests.job(launch)
    owner = {**job, "metadata": {**job["metadata"], "uid": "5f1c6a57-0000-4000-8000-000000000001"}}
    service = gke_manifests.service(launch, owner=owner)
    for doc in (job, service):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 6 * 3600
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert service["metadata"]["ownerReferences"][0]["kind"] == "Job"


def test_a_broken_job_fails_the_schema_check():
    job = gke_manifests.job(_launch(_cfg()))
    job["spec"]["completions"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def test_jobset_matches_its_crd_and_names_its_pods_the_jobset_way():
    launch = _launch(_cfg(train={"gke": {"use_jobset": True}}))
    jobset = gke_manifests.jobset(launch)
    _validate_custom(jobset)
    (replicated,) = jobset["spec"]["replicatedJobs"]
    assert replicated["template"]["spec"]["completions"] == 3
    assert jobset["spec"]["network"]["enableDNSHostnames"] is True
    # <jobset>-<replicatedJob>-<jobIndex>-<podIndex>.<subdomain (the JobSet's name)>
    assert gke_manifests.worker_hosts(launch)[2] == (
        f"{launch.name}-worker-0-2.{launch.name}.kubeflow.svc:2222"
    )
    broken = {**jobset, "spec": {**jobset["spec"], "failurePolicy": {"maxRestarts": "none"}}}
    with pytest.raises(AssertionError):
        _validate_custom(broken)


def test_gpu_resources_selectors_and_tolerations_come_from_the_train_step():
    steps = {
        "cpu": "8",
        "memory": "32G",
        "accelerator": "nvidia-tesla-t4",
        "accelerator_count": 2,
        "node_selector": {"pool": "train"},
        "tolerations": [{"key": "dedicated", "value": "ml"}],
    }
    launch = _launch(_cfg(steps=steps))
    spec = gke_manifests.pod_template(launch)["spec"]
    (container,) = spec["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "8", "memory": "32G"},
        "limits": {"cpu": "8", "memory": "32G", "nvidia.com/gpu": "2"},
    }
    assert spec["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
        "pool": "train",
    }
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
    ]
    kubernetes_validate.validate(gke_manifests.job(launch), KUBERNETES_VERSION, strict=True)


def test_tpu_workers_on_gke_are_one_host_and_train_with_tpu_local():
    steps = {"accelerator": "tpu-v5-lite-podslice", "tpu_topology": "2x2", "accelerator_count": 4}
    with pytest.raises(ConfigError, match="train.workers"):
        _launch(_cfg(steps=steps))
    cfg = _cfg(train={"workers": 1, "batch_size": 64}, steps=steps)
    spec = gke_manifests.pod_template(_launch(cfg))["spec"]
    assert spec["nodeSelector"]["cloud.google.com/gke-tpu-topology"] == "2x2"
    assert spec["containers"][0]["resources"]["limits"]["google.com/tpu"] == "4"
    assert remote.worker_config(cfg).train.tpu == "local"


@pytest.mark.parametrize(
    ("train", "field"),
    [
        ({"backend": "local", "workers": 2}, "train.workers"),
        ({"strategy": "mirrored"}, "train.strategy"),
        ({"gke": {"namespace": "Kube_Flow"}}, "DNS label"),
        ({"backend": "k8s"}, "backend"),
    ],
)
def test_bad_train_settings_name_the_field(train, field):
    from kubetfx.components.config_loader import validate_config

    raw = {"pipeline_root": "gs://b/r", "train": {"backend": "gke", "workers": 2, **train}}
    with pytest.raises(ConfigError, match=field):
        validate_config(raw, "test")


def test_the_compiled_train_step_is_a_small_launcher_on_kubeflow(tmp_path):
    from kubetfx.pipelines import catalog

    cfg = _cfg(steps={"cpu": "8", "memory": "32G", "accelerator": "nvidia-l4"})
    path = tmp_path / "training.yaml"
    catalog.compile_pipeline(cfg, "kubeflow", str(path))
    executors = yaml.safe_load(path.read_text())["deploymentSpec"]["executors"]
    train = executors["exec-train"]["container"]["resources"]
    assert "accelerator" not in train and train["cpuLimit"] == 1.0  # cluster.default
    with pytest.raises(ConfigError, match="train.backend"):
        catalog.compile_pipeline(cfg, "vertex", str(tmp_path / "v.yaml"))


# The control loop, against a fake of the Kubernetes API.


def test_the_fake_has_exactly_the_kube_surface():
    public = [m for m in vars(Kube) if not m.startswith("_") and m != "connect"]
    assert sorted(public) == sorted(PERMISSIONS)
    for method in public:
        assert inspect.signature(getattr(FakeKube, method)) == inspect.signature(
            getattr(Kube, method)
        ), method


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _run(kube: FakeKube, launch, lines: list[str], clock: Clock | None = None) -> None:
    clock = clock or Clock()
    gke.run(kube, launch, 10.0, out=lines.append, sleep=clock.sleep, clock=clock)


def _success_ticks(name: str, workers: int = 2) -> list[dict]:
    pods = [f"{name}-{i}-x7k2p" for i in range(workers)]
    return [
        {"pods": [pod(p, i, "Pending") for i, p in enumerate(pods)]},
        {
            "pods": [pod(p, i, "Running") for i, p in enumerate(pods)],
            "logs": {p: f"Epoch 1/2\nworker {i} step 1" for i, p in enumerate(pods)},
        },
        {
            "pods": [
                pod(p, i, "Succeeded", terminated={"exitCode": 0}) for i, p in enumerate(pods)
            ],
            "logs": {p: f"Epoch 1/2\nworker {i} step 1\nEpoch 2/2" for i, p in enumerate(pods)},
            "status": {"succeeded": workers},
        },
    ]


def test_success_streams_logs_and_cleans_up(tmp_path):
    cfg = _cfg(train={"workers": 2, "gke": {"poll_seconds": 0.01}})
    uris = {**URIS, "model-run": str(tmp_path / "model_run")}
    name = "kubetfx-train-ok"
    kube = FakeKube(_success_ticks(name))
    chief = TrainResult("multi_worker", 2, 2, {"loss": 0.25}, True)

    def chief_writes_its_result(namespace, body):
        remote.write_result(chief, uris["model-run"])  # what the chief process does
        return FakeKube.create_job(kube, namespace, body)

    kube.create_job = chief_writes_its_result
    assert remote.train(cfg, uris, kube=kube, name=name) == chief
    assert kube.objects == {}  # Job and Service deleted
    assert [m for m, _ in kube.calls if m.startswith("delete")] == ["delete_service", "delete_job"]


def test_the_loop_prints_progress_and_each_log_line_once():
    launch = _launch(_cfg(train={"workers": 2}), "kubetfx-train-logs")
    lines: list[str] = []
    _run(FakeKube(_success_ticks(launch.name)), launch, lines)
    assert lines.count("[worker-0] Epoch 1/2") == 1
    assert lines.count("[worker-1] Epoch 2/2") == 1
    assert "[train] 2/2 worker pod(s): 2 pending" in lines
    assert "[train] 2/2 worker pod(s): 2 running" in lines
    assert lines[-3] == "[train] all 2 worker(s) succeeded"


def test_a_failed_worker_fails_the_step_naming_the_pod_and_cleans_up():
    launch = _launch(_cfg(train={"workers": 2}), "kubetfx-train-oom")
    running = [pod(f"{launch.name}-{i}-ab", i, "Running") for i in range(2)]
    oom = pod(
        f"{launch.name}-1-ab", 1, "Failed", terminated={"exitCode": 137, "reason": "OOMKilled"}
    )
    kube = FakeKube([{"pods": running}, {"pods": [running[0], oom]}])
    with pytest.raises(TrainingFailed) as failed:
        _run(kube, launch, [])
    message = str(failed.value)
    assert f"worker pod {launch.name}-1-ab failed" in message
    assert "OOMKilled (exit code 137)" in message
    assert kube.objects == {}


def test_an_image_that_cannot_be_pulled_fails_fast():
    launch = _launch(_cfg(train={"workers": 1}), "kubetfx-train-pull")
    stuck = pod(
        f"{launch.name}-0-ab",
        0,
        "Pending",
        waiting={"reason": "ImagePullBackOff", "message": "no such image"},
    )
    kube = FakeKube([{"pods": [stuck]}])
    with pytest.raises(TrainingFailed, match="ImagePullBackOff: no such image"):
        _run(kube, launch, [])
    assert len(kube.called("list_pods")) == 1 and kube.objects == {}


def test_timeout_fails_the_step_and_cleans_up():
    cfg = _cfg(train={"workers": 2, "timeout_seconds": 60})
    launch = _launch(cfg, "kubetfx-train-slow")
    kube = FakeKube([{"pods": [pod(f"{launch.name}-{i}-ab", i, "Pending") for i in range(2)]}])
    clock = Clock()
    with pytest.raises(TrainingFailed, match="timed out after 60s"):
        _run(kube, launch, [], clock)
    assert clock.now == 60.0  # polled every 10 s until the deadline, not beyond
    assert kube.objects == {}


def test_a_failed_job_without_a_failed_pod_fails_the_step():
    launch = _launch(_cfg(train={"workers": 1}), "kubetfx-train-deadline")
    failed = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
    status = {"conditions": [{**failed, "message": "Job was active longer than its deadline"}]}
    kube = FakeKube([{"pods": [], "status": status}])
    with pytest.raises(TrainingFailed, match="DeadlineExceeded"):
        _run(kube, launch, [])
    assert kube.objects == {}


def test_an_api_error_after_the_job_exists_still_deletes_it():
    launch = _launch(_cfg(), "kubetfx-train-forbidden")
    kube = FakeKube(fail={"create_service": KubeError("forbidden", 403)})
    with pytest.raises(KubeError, match="forbidden"):
        _run(kube, launch, [])
    assert kube.called("delete_job") and not kube.called("delete_service")
    assert kube.objects == {}


def test_a_cancelled_run_sigterm_still_cleans_up():
    """KFP stops a run by deleting the step's pod: SIGTERM must unwind through the cleanup."""
    import os
    import signal

    launch = _launch(_cfg(train={"workers": 1}), "kubetfx-train-cancel")
    kube = FakeKube([{"pods": [pod(f"{launch.name}-0-ab", 0, "Running")]}])

    def stopped(seconds):
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingFailed, match="SIGTERM"):
        gke.run(kube, launch, 10.0, out=lambda line: None, sleep=stopped, clock=Clock())
    assert kube.objects == {}
    assert signal.getsignal(signal.SIGTERM) is before


def test_jobset_success_and_cleanup():
    launch = _launch(_cfg(train={"workers": 2, "gke": {"use_jobset": True}}), "kubetfx-train-js")
    ticks = _success_ticks(launch.name)
    ticks[-1]["status"] = {"conditions": [{"type": "Completed", "status": "True"}]}
    kube = FakeKube(ticks)
    _run(kube, launch, [])
    assert [m for m, _ in kube.calls if m.startswith(("create", "delete"))] == [
        "create_jobset",
        "delete_jobset",
    ]


def test_the_launcher_role_grants_exactly_what_the_launcher_calls():
    """infra/k8s/rbac/trainer-launcher.yaml == the permissions of every call gke.run makes."""
    used: set[str] = set()
    for use_jobset in (False, True):
        launch = _launch(
            _cfg(train={"workers": 2, "gke": {"use_jobset": use_jobset}}), "kubetfx-train-rbac"
        )
        ticks = _success_ticks(launch.name)
        ticks[-1]["status"]["conditions"] = [{"type": "Completed", "status": "True"}]
        kube = FakeKube(ticks)
        _run(kube, launch, [])
        used |= {method for method, _ in kube.calls}
    assert granted("trainer-launcher.yaml") == {PERMISSIONS[m] for m in used}


# Vertex AI CustomJob worker pools, built by the real SDK (anonymous credentials, not sent).


def _custom_job(cfg: PipelineConfig):
    from google.auth.credentials import AnonymousCredentials

    args = remote.worker_args(cfg, URIS)
    return vertex.build_job(cfg, "kubetfx-train-vx", args, AnonymousCredentials())


def test_vertex_cpu_pools_are_a_chief_and_the_other_workers():
    cfg = _cfg(train={"backend": "vertex", "workers": 3})
    job = _custom_job(cfg)
    chief, workers = job.job_spec.worker_pool_specs
    assert (chief.replica_count, workers.replica_count) == (1, 2)
    assert chief.machine_spec.machine_type == "n1-standard-8"
    assert chief.machine_spec.accelerator_count == 0
    assert list(chief.container_spec.command) == ["python", "-m", "kubetfx.components.train"]
    args = list(workers.container_spec.args)
    assert PipelineConfig.from_json(args[args.index("--config-json") + 1]).train.backend == "local"
    assert chief.container_spec.image_uri == cfg.images.components
    assert (
        job.job_spec.base_output_directory.output_uri_prefix
        == "gs://b/root/vertex-training/kubetfx-train-vx"
    )


def test_vertex_gpu_pools_use_the_vertex_enum_names():
    cfg = _cfg(
        train={"backend": "vertex", "workers": 2, "machine_type": "n1-standard-16"},
        steps={"accelerator": "nvidia-tesla-t4", "accelerator_count": 2},
    )
    for pool in _custom_job(cfg).job_spec.worker_pool_specs:
        assert pool.machine_spec.machine_type == "n1-standard-16"
        assert pool.machine_spec.accelerator_type.name == "NVIDIA_TESLA_T4"
        assert pool.machine_spec.accelerator_count == 2


def test_vertex_tpu_v5e_is_one_host_pool():
    steps = {"accelerator": "tpu-v5-lite-podslice", "tpu_topology": "2x2"}
    cfg = _cfg(train={"backend": "vertex", "workers": 1, "batch_size": 64}, steps=steps)
    (pool,) = _custom_job(cfg).job_spec.worker_pool_specs
    assert pool.machine_spec.machine_type == "ct5lp-hightpu-4t"
    assert pool.machine_spec.tpu_topology == "2x2"
    args = list(pool.container_spec.args)
    assert PipelineConfig.from_json(args[args.index("--config-json") + 1]).train.tpu == "local"
    with pytest.raises(ConfigError, match="train.workers"):
        _custom_job(_cfg(train={"backend": "vertex", "workers": 2}, steps=steps))


def test_vertex_needs_a_project():
    cfg = _cfg(train={"backend": "vertex"}, vertex={"region": "europe-west4"})
    with pytest.raises(ConfigError, match="vertex.project"):
        _custom_job(cfg)


def test_vertex_job_uploads_curves_to_the_tensorboard_and_logs_to_the_experiment():
    """vertex.tensorboard (terraform output vertex_tensorboard) and vertex.experiment reach
    CustomJob.run with the service account they need; without it, a config error."""
    import inspect

    from google.cloud.aiplatform import CustomJob

    board = "projects/p/locations/europe-west4/tensorboards/123"
    account = "kubetfx-pipelines@p.iam.gserviceaccount.com"
    vertex_cfg = {"project": "p", "region": "europe-west4", "tensorboard": board}
    cfg = _cfg(
        train={"backend": "vertex"},
        vertex={**vertex_cfg, "service_account": account, "experiment": "penguins"},
    )
    job = _custom_job(cfg)
    sent: dict = {}
    job.run = lambda **arguments: sent.update(arguments)  # the SDK call, captured
    vertex.run(job, cfg, "kubetfx-train-vx")  # not job.display_name: it raises until created
    assert sent == {
        "service_account": account,
        "timeout": cfg.train.timeout_seconds,
        "sync": True,
        "tensorboard": board,
        "experiment": "penguins",
    }
    inspect.signature(CustomJob.run).bind(job, **sent)  # what the installed SDK accepts
    # Neither set: the call is as before.
    assert "tensorboard" not in vertex.run_arguments(_cfg(train={"backend": "vertex"}))
    with pytest.raises(ConfigError, match="vertex.service_account: required with vertex.tensorb"):
        vertex.run(job, _cfg(train={"backend": "vertex"}, vertex=vertex_cfg), "kubetfx-train-vx")
    with pytest.raises(ValueError, match="tensorboard"):
        _cfg(vertex={**vertex_cfg, "tensorboard": "my-board"})
