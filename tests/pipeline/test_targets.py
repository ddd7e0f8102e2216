"""Compile targets: per-step resources, accelerators, placement, caching and Beam options land
in the compiled YAML where the config puts them, in each target's own spelling, and nowhere
else."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest
import yaml
from kfp import dsl

from kubetfx.cli import main
from kubetfx.components.config import PipelineConfig

IMAGE = "registry.example/kubetfx:1.2"
DATAFLOW = ["--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/tmp"]
CLUSTER = {
    "default": {
        "cpu": "1",
        "memory": "4G",
        "node_selector": {"pool": "cpu"},
        "tolerations": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
    },
    "steps": {
        # node_selector {} drops the default's CPU pool: the GPU selector decides.
        "train": {
            "cpu": "4",
            "memory": "16G",
            "accelerator": "nvidia-tesla-t4",
            "accelerator_count": 2,
            "node_selector": {},
            "caching": False,
        },
        "transform": {"memory": "8G", "beam_args": DATAFLOW},
    },
}


def write_config(tmp_path, **sections) -> str:
    raw = {"pipeline_root": "gs://bucket/root", "images": {"components": IMAGE}}
    raw.update(sections)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def compile_yaml(tmp_path, target: str, **sections) -> tuple[dict, dict]:
    """(pipeline spec, kubernetes platform spec or {}) compiled through the CLI."""
    out = tmp_path / f"{target}.yaml"
    config = write_config(tmp_path, **sections)
    assert main(["compile", "--platform", target, "--config", config, "--output", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    platform = docs[1]["platforms"]["kubernetes"] if len(docs) > 1 else {}
    return docs[0], platform


def executor(spec: dict, task: str) -> dict:
    component = spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
    label = spec["components"][component]["executorLabel"]
    return spec["deploymentSpec"]["executors"][label]["container"]


def k8s(spec: dict, platform: dict, task: str) -> dict:
    component = spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
    label = spec["components"][component]["executorLabel"]
    return platform.get("deploymentSpec", {}).get("executors", {}).get(label, {})


TASKS = (
    "ingest", "statistics", "schema", "validate", "transform", "train", "evaluate",
    "infra-validate", "push",
)  # fmt: skip
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
POOL_TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def kubeflow(tmp_path_factory):
    return compile_yaml(tmp_path_factory.mktemp("kfp"), "kubeflow", cluster=CLUSTER)


@pytest.fixture(scope="module")
def vertex(tmp_path_factory):
    return compile_yaml(tmp_path_factory.mktemp("vertex"), "vertex", cluster=CLUSTER)


def test_kubeflow_requests_equal_limits_per_step(kubeflow):
    spec, _ = kubeflow
    train = executor(spec, "train")["resources"]
    assert (train["resourceCpuRequest"], train["resourceCpuLimit"]) == ("4", "4")
    assert (train["resourceMemoryRequest"], train["resourceMemoryLimit"]) == ("16G", "16G")
    transform = executor(spec, "transform")["resources"]
    assert (transform["resourceCpuRequest"], transform["resourceMemoryLimit"]) == ("1", "8G")
    for task in set(TASKS) - {"train", "transform"}:
        res = executor(spec, task)["resources"]
        assert (res["resourceCpuRequest"], res["resourceCpuLimit"]) == ("1", "1"), task
        assert (res["resourceMemoryRequest"], res["resourceMemoryLimit"]) == ("4G", "4G"), task
        assert "accelerator" not in res, task
    assert {executor(spec, task)["image"] for task in TASKS} == {IMAGE}
    assert spec["defaultPipelineRoot"] == "gs://bucket/root"


def test_kubeflow_gpu_step_gets_the_device_the_gke_pool_and_the_taint(kubeflow):
    spec, platform = kubeflow
    accelerator = executor(spec, "train")["resources"]["accelerator"]
    assert (accelerator["resourceType"], accelerator["resourceCount"]) == ("nvidia.com/gpu", "2")
    train = k8s(spec, platform, "train")
    assert train["nodeSelector"]["labels"] == {
        "cloud.google.com/gke-accelerator": "nvidia-tesla-t4"
    }
    assert GPU_TOLERATION in train["tolerations"]
    assert POOL_TOLERATION in train["tolerations"]


def test_kubeflow_other_steps_keep_the_default_placement(kubeflow):
    spec, platform = kubeflow
    for task in set(TASKS) - {"train"}:
        placement = k8s(spec, platform, task)
        assert placement["nodeSelector"]["labels"] == {"pool": "cpu"}, task
        assert placement["tolerations"] == [POOL_TOLERATION], task


def test_caching_is_per_step(kubeflow, vertex):
    for spec, _ in (kubeflow, vertex):
        tasks = spec["root"]["dag"]["tasks"]
        assert not tasks["train"]["cachingOptions"].get("enableCache")
        assert all(tasks[t]["cachingOptions"]["enableCache"] for t in set(TASKS) - {"train"})


def test_vertex_spells_accelerators_as_its_enum_and_sizes_by_limits(vertex):
    spec, platform = vertex
    train = executor(spec, "train")["resources"]
    assert (train["accelerator"]["resourceType"], train["accelerator"]["resourceCount"]) == (
        "NVIDIA_TESLA_T4",
        "2",
    )
    assert (train["resourceCpuLimit"], train["resourceMemoryLimit"]) == ("4", "16G")
    # Vertex picks a machine from the limits; there is no Kubernetes scheduling to request.
    assert "resourceCpuRequest" not in train and "resourceMemoryRequest" not in train
    assert all("accelerator" not in executor(spec, t)["resources"] for t in set(TASKS) - {"train"})
    assert platform == {}  # no node selectors or tolerations: no cluster of ours
    assert {executor(spec, task)["image"] for task in TASKS} == {IMAGE}


def test_beam_args_reach_only_their_step(kubeflow):
    spec, _ = kubeflow
    default = spec["root"]["inputDefinitions"]["parameters"]["config"]["defaultValue"]
    cfg = PipelineConfig.from_json(default)
    assert cfg.beam_args_for("transform") == DATAFLOW
    for stage in ("statistics", "evaluate"):
        assert cfg.beam_args_for(stage) == cfg.beam.pipeline_args
    # Each Beam step parses the one `config` parameter (editable in the Kubeflow UI) at run
    # time and asks it for its own options there, in the wrapper or in the core it calls.
    for task in ("statistics", "transform", "evaluate"):
        source = executor(spec, task)["command"][-1]
        assert "PipelineConfig.from_json(config)" in source, task
        assert "cfg.beam.pipeline_args" not in source, task
        core = inspect.getsource(importlib.import_module(f"kubetfx.components.{task}.core"))
        assert f'beam_args_for("{task}"' in source + core, task


def test_tpu_on_kubeflow_and_vertex(tmp_path):
    tpu = {"accelerator": "tpu-v5-lite-podslice", "accelerator_count": 4, "tpu_topology": "2x2"}
    cluster = {"steps": {"train": {"cpu": "8", "memory": "32G", **tpu}}}
    spec, platform = compile_yaml(tmp_path, "kubeflow", cluster=cluster)
    accelerator = executor(spec, "train")["resources"]["accelerator"]
    assert (accelerator["resourceType"], accelerator["resourceCount"]) == ("google.com/tpu", "4")
    train = k8s(spec, platform, "train")
    assert train["nodeSelector"]["labels"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "2x2",
    }
    assert {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"} in train[
        "tolerations"
    ]
    assert k8s(spec, platform, "ingest") == {}
    spec, _ = compile_yaml(tmp_path, "vertex", cluster=cluster)
    assert executor(spec, "train")["resources"]["accelerator"]["resourceType"] == "TPU_V5_LITEPOD"


def test_local_target_applies_no_cluster_settings(tmp_path):
    spec, platform = compile_yaml(tmp_path, "local", cluster=CLUSTER, pipeline_root="./root")
    assert platform == {}
    assert "defaultPipelineRoot" not in spec
    assert all("resources" not in executor(spec, task) for task in TASKS)
    default = spec["root"]["inputDefinitions"]["parameters"]["config"]["defaultValue"]
    # Locally, a Dataflow option for one step would launch cloud jobs on local paths.
    assert PipelineConfig.from_json(default).beam_args_for("transform") != DATAFLOW


@pytest.mark.parametrize(
    ("target", "sections", "named"),
    [
        ("kubeflow", {"pipeline_root": "./pipeline_root"}, "pipeline_root"),
        ("vertex", {"pipeline_root": "s3://bucket/root"}, "pipeline_root"),
        (
            "kubeflow",
            {"cluster": {"steps": {"train": {"accelerator": "nvidia-k9000"}}}},
            "cluster.steps.train.accelerator",
        ),
        (
            "vertex",
            {"cluster": {"default": {"accelerator": "nvidia-k9000"}}},
            "cluster.default.accelerator",
        ),
        (
            "kubeflow",
            {"cluster": {"steps": {"train": {"accelerator": "tpu-v5-lite-podslice"}}}},
            "cluster.steps.train.tpu_topology",
        ),
        (
            "kubeflow",
            {"cluster": {"steps": {"train": {"accelerator": "nvidia-l4", "accelerator_count": 3}}}},
            "cluster.steps.train.accelerator_count",
        ),
        (
            "vertex",
            {"cluster": {"steps": {"train": {"memory": "16GB"}}}},
            "cluster.steps.train.memory",
        ),
        ("kubeflow", {"cluster": {"default": {"cpu": "two"}}}, "cluster.default.cpu"),
        ("local", {"cluster": {"steps": {"trian": {"cpu": "4"}}}}, "cluster.steps"),
        ("local", {"cluster": {"steps": {"train": {"beam_args": DATAFLOW}}}}, "beam_args"),
        (
            "kubeflow",
            {"cluster": {"default": {"beam_args": DATAFLOW}}},
            "cluster.default.beam_args",
        ),
        # No engine and no cluster API in a Vertex step; no Docker API in a Kubeflow pod.
        ("vertex", {"infra_validate": {"mode": "docker"}}, "infra_validate.mode"),
        ("vertex", {"infra_validate": {"mode": "kubernetes"}}, "infra_validate.mode"),
        ("kubeflow", {"infra_validate": {"mode": "docker"}}, "infra_validate.mode"),
        (
            "local",
            {"pipeline_root": "./root", "infra_validate": {"mode": "kubernetes"}},
            "infra_validate.mode",
        ),
    ],
)
def test_bad_cluster_settings_are_config_errors_naming_the_field(
    tmp_path, capsys, target, sections, named
):
    config = write_config(tmp_path, **sections)
    out = tmp_path / "out.yaml"
    assert main(["compile", "--platform", target, "--config", config, "--output", str(out)]) == 2
    error = capsys.readouterr().err
    assert named in error
    assert not out.exists()


def test_unknown_accelerator_lists_the_known_ones(tmp_path, capsys):
    config = write_config(tmp_path, cluster={"steps": {"train": {"accelerator": "nvidia-k9000"}}})
    assert main(["compile", "--platform", "vertex", "--config", config, "--output", "x.yaml"]) == 2
    error = capsys.readouterr().err
    assert "'nvidia-k9000'" in error
    assert "nvidia-tesla-t4" in error and "tpu-v5-lite-podslice" in error


def test_the_default_config_compiles_for_every_target(tmp_path):
    for target in ("local", "kubeflow", "vertex"):
        spec, _ = compile_yaml(tmp_path, target)
        default = json.loads(
            spec["root"]["inputDefinitions"]["parameters"]["config"]["defaultValue"]
        )
        assert default["images"]["components"] == IMAGE


def test_stage_names_are_every_pipelines_steps():
    """targets.STAGE_NAMES is written out (targets must not import the pipelines)."""
    from kubetfx.pipelines import catalog, targets

    steps = [fn.__name__ for m in catalog._pipeline_modules().values() for fn in m.STAGES]
    assert list(targets.STAGE_NAMES) == steps


@pytest.mark.parametrize(
    ("target", "runner", "mode"),
    [
        ("kubeflow", "subprocess", "kubernetes"),  # the server image as a pod beside the step
        ("vertex", "subprocess", "vertex"),  # a temporary endpoint, as a push deploys
        ("local", "subprocess", "subprocess"),  # venv runs: .venv-serving
        ("local", "docker", "docker"),  # steps in containers: the server image in one more
    ],
)
def test_infra_validate_auto_is_the_targets_mode(tmp_path, target, runner, mode):
    root = {} if target != "local" else {"pipeline_root": "./root"}
    spec, _ = compile_yaml(tmp_path, target, runner=runner, **root)
    default = spec["root"]["inputDefinitions"]["parameters"]["config"]["defaultValue"]
    assert PipelineConfig.from_json(default).infra_validate.mode == mode


# Data-aware caching: ingest's cache key sees the data through a step that is never cached.
def _cache_key(spec: dict, task: str, parameters: dict) -> str:
    """What KFP's cache key is made of for a task whose inputs are parameters only: its
    component and executor (the code) and its input parameter values at run time."""
    component = spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
    label = spec["components"][component]["executorLabel"]
    body = {
        "component": spec["components"][component],
        "executor": spec["deploymentSpec"]["executors"][label],
        "parameters": parameters,
    }
    return json.dumps(body, sort_keys=True)


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_a_change_of_data_misses_ingests_cache_and_an_identical_rerun_hits_it(tmp_path, target):
    import os

    from kubetfx.components.ingest.component import data_fingerprint

    data = tmp_path / "data.csv"
    data.write_text("species,x\nAdelie,1\n")
    spec, _ = compile_yaml(tmp_path, target, data={"path": str(data), "label": "species"})
    tasks = spec["root"]["dag"]["tasks"]
    assert not tasks["data-fingerprint"]["cachingOptions"].get("enableCache")  # runs every time
    assert tasks["ingest"]["cachingOptions"]["enableCache"]
    wired = tasks["ingest"]["inputs"]["parameters"]["data_fingerprint"]
    assert wired["taskOutputParameter"]["producerTask"] == "data-fingerprint"
    config = spec["root"]["inputDefinitions"]["parameters"]["config"]["defaultValue"]

    def ingest_key() -> str:  # the fingerprint step's answer when a run starts
        seen = dsl.component(data_fingerprint).python_func(config=config)
        return _cache_key(spec, "ingest", {"config": config, "data_fingerprint": seen})

    first = ingest_key()
    assert ingest_key() == first  # an identical rerun: served from the cache
    data.write_text("species,x\nGentoo,2\n")  # same size, new rows
    os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 1_000_000_000))
    assert ingest_key() != first  # new data: ingest and everything after it run again
    changed = ingest_key()
    (tmp_path / "other.csv").write_text("species,x\nAdelie,1\n")
    assert ingest_key() == changed  # a file ingest does not read changes nothing


def test_the_local_pipeline_has_no_fingerprint_step(tmp_path):
    spec, _ = compile_yaml(tmp_path, "local", pipeline_root="./root")
    assert "data-fingerprint" not in spec["root"]["dag"]["tasks"]  # kfp.local caches nothing


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_no_cache_turns_caching_off_for_every_step(target):
    from kubetfx.runners.submit import without_cache

    cfg = without_cache(
        PipelineConfig.model_validate(
            {"pipeline_root": "gs://b/r", "cluster": {"steps": {"ingest": {"cpu": "2"}}}}
        )
    )
    tasks = _compiled_tasks(cfg, target)
    assert tasks and not any(t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())


def _compiled_tasks(cfg: PipelineConfig, target: str) -> dict:
    import tempfile

    from kfp import compiler

    from kubetfx.pipelines import training

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/p.yaml"
        compiler.Compiler().compile(training.build(cfg, target), path)
        with open(path) as f:
            return next(yaml.safe_load_all(f))["root"]["dag"]["tasks"]


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_beam_train_and_push_steps_are_retried_with_backoff(tmp_path, target):
    spec, _ = compile_yaml(
        tmp_path,
        target,
        cluster={"steps": {"push": {"retries": 0}, "validate": {"retries": 3}}},
    )
    tasks = spec["root"]["dag"]["tasks"]
    retried = {name: task["retryPolicy"] for name, task in tasks.items() if "retryPolicy" in task}
    assert set(retried) == {"statistics", "transform", "train", "evaluate", "validate"}
    assert retried["train"]["maxRetryCount"] == 2 and retried["validate"]["maxRetryCount"] == 3
    assert retried["train"]["backoffDuration"] == "60s"
    assert retried["train"]["backoffFactor"] == 2.0
    assert retried["train"]["backoffMaxDuration"] == "3600s"


def test_no_retries_locally(tmp_path):
    spec, _ = compile_yaml(tmp_path, "local", pipeline_root="./root")
    assert not any("retryPolicy" in t for t in spec["root"]["dag"]["tasks"].values())
