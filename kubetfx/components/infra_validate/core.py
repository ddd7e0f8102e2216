"""InfraValidator: serve the candidate in the real model server before it may be pushed.

The candidate is staged as version 1 of a throwaway registry and served where `mode` says
(servers.py): the server image in a container of the local engine ('docker') or as a pod
beside the step ('kubernetes'), or the server's environment in a subprocess on a free
loopback port ('subprocess'). Real eval examples are sent through both request paths: b64
tf.Example and JSON features. Every answer must equal the model's in-process
`serving_tf_example` predictions (within `atol`). The result is an InfraBlessing:
`INFRA_BLESSED` or `INFRA_NOT_BLESSED`, with the mode, reasons and timings in
infra_validation.json. Anything that goes wrong with the candidate - the server does not
start, the model does not load, an answer differs - means not blessed; a setup error (no
engine, no image, no serving environment) is a ConfigError, not a verdict.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import glob
import json
import os
import tempfile

import numpy as np

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.contracts import (
    INFRA_BLESSED,
    INFRA_FILE,
    INFRA_NOT_BLESSED,
    InfraResult,
)
from kubetfx.components.infra_validate import servers
from kubetfx.components.infra_validate.config import InfraValidateConfig
from kubetfx.errors import ConfigError, ServerFailed
from kubetfx.serving import contract
from kubetfx.serving.process import serving_python

RESULT_FILE = INFRA_FILE
MODEL = "candidate"


def run_from_artifacts(
    *, cfg: PipelineConfig, model_dir: str, model_uri: str, examples_uri: str, out_uri: str
) -> InfraResult:
    """The infra_validate step: where it may serve the candidate comes from the run's config
    (the server image, the bucket to stage in, Vertex AI's project and serving image)."""
    vertex = None
    if cfg.infra_validate.mode == "vertex":
        push = cfg.push.vertex
        vertex = servers.VertexSettings(
            project=cfg.vertex.project,
            location=cfg.vertex.region,
            machine_type=push.machine_type,
            # A push to Vertex deploys its TF Serving image: then validate in that one.
            tf_serving=cfg.push.destination == "vertex",
            tf_serving_image=push.serving_image,
        )
    platform = servers.Platform(
        image=cfg.images.server,
        staging_root=cfg.pipeline_root,
        model_uri=model_uri,
        vertex=vertex,
    )
    return run(
        model_dir=model_dir,
        examples_uri=examples_uri,
        cfg=cfg.infra_validate,
        out_uri=out_uri,
        platform=platform,
    )


def run(
    *,
    model_dir: str,
    examples_uri: str,
    cfg: InfraValidateConfig,
    out_uri: str,
    platform: servers.Platform | None = None,
) -> InfraResult:
    platform = platform or servers.Platform()
    mode = "subprocess" if cfg.mode == "auto" else cfg.mode  # a target resolves 'auto'
    if mode == "subprocess":
        serving_python(cfg.server_python)  # a setup error, not a verdict on the model
    serialized = _eval_examples(examples_uri, cfg.examples)
    expected = _in_process(model_dir, serialized)
    with (
        tempfile.TemporaryDirectory(prefix="infra-validate-") as tmp,
        _server(mode, cfg, model_dir, tmp, platform) as server,
    ):
        try:
            ready = server.wait_available(MODEL, cfg.ready_timeout_seconds)
        except ServerFailed as e:
            result = InfraResult(False, [f"server not ready: {e}"], len(serialized))
        else:
            result = _check(server, model_dir, serialized, expected, cfg.atol, ready)
    result = dataclasses.replace(result, mode=mode)
    print(f"infra validation ({mode}): " + "; ".join(result.reasons))
    write_blessing(result, out_uri)
    return result


@contextlib.contextmanager
def _server(mode, cfg: InfraValidateConfig, model_dir, tmp, platform: servers.Platform):
    if mode in ("docker", "kubernetes", "vertex") and not platform.image:
        raise ConfigError(f"infra_validate.mode {mode!r} serves images.server, which is not set")
    if mode == "vertex" and platform.vertex is None:
        raise ConfigError("infra_validate.mode 'vertex' needs the run's vertex.* settings")
    if mode == "subprocess":
        registry = _stage(model_dir, tmp)
        log = os.path.join(tmp, "server.log")
        with servers.subprocess_server(cfg.server_python, registry, MODEL, log) as server:
            yield server
        return
    if mode == "docker":
        with servers.DockerServer(platform.image, _stage(model_dir, tmp), MODEL) as server:
            yield server
        return
    if mode == "kubernetes":
        from kubetfx.components.k8s import Kube

        kube = platform.kube or Kube.connect()
        namespace = cfg.namespace or servers.own_namespace("kubeflow")
        deadline = int(cfg.ready_timeout_seconds) + 600
        registry = _stage(model_dir, tmp)  # offered to the pod over HTTP
        with servers.KubernetesServer(
            kube, namespace, platform.image, registry, MODEL, cfg.service_account, deadline
        ) as server:
            yield server
        return
    if mode == "vertex" and platform.vertex.tf_serving:
        with servers.VertexServer(platform, MODEL) as server:  # the model as it is, no copy
            yield server
        return
    # A custom container on Vertex reads the candidate from a bucket: it cannot see this disk
    # (the tests' fake Vertex serves from this machine).
    if platform.sdk is None and not fileio.is_remote(platform.staging_root or ""):
        raise ConfigError(
            "infra_validate.mode 'vertex': the server reads the candidate from a bucket, and "
            f"pipeline_root {platform.staging_root!r} is not one (gs://...)"
        )
    registry = servers.stage_remote(model_dir, platform.staging_root, MODEL)
    try:
        with servers.VertexServer(platform, MODEL, registry) as server:
            yield server
    finally:
        fileio.rmtree(registry)


def _check(server, model_dir, serialized, expected, atol, ready) -> InfraResult:
    served = contract.read(model_dir)
    features = served.features if served else []
    requests = {
        "b64 tf.Example": {
            "signature_name": "serving_tf_example",
            "instances": [{"b64": base64.b64encode(s).decode()} for s in serialized],
        },
        "JSON features": {"inputs": json_columns(serialized, features)},
    }
    reasons, worst = [], 0.0
    for what, body in requests.items():
        status, answer = server.predict(MODEL, body)
        if status != 200:
            reasons.append(f"{what}: HTTP {status}: {answer}")
            continue
        outputs = answer.get("predictions") or answer.get("outputs")
        diff, problem = _compare(_as_columns(outputs, list(expected)), expected, atol)
        worst = max(worst, diff)
        reasons.append(f"{what}: {problem}" if problem else f"{what}: answers match")
    blessed = all(r.endswith("answers match") for r in reasons)
    return InfraResult(blessed, reasons, len(serialized), round(ready, 2), worst)


def _eval_examples(examples_uri: str, limit: int) -> list[bytes]:
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(examples_uri, "Split-eval", "*.gz")))
    if not files:
        raise FileNotFoundError(f"no eval examples under {examples_uri}/Split-eval")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit)
    return [record.numpy() for record in dataset]


def _in_process(model_dir: str, serialized: list[bytes]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    fn = tf.saved_model.load(model_dir).signatures["serving_tf_example"]
    return {k: v.numpy() for k, v in fn(examples=tf.constant(serialized)).items()}


def _stage(model_dir: str, tmp: str) -> str:
    """A one-version registry holding the candidate (a link when local: nothing is copied)."""
    registry = os.path.join(tmp, "registry")
    os.makedirs(os.path.join(registry, MODEL))
    target = os.path.join(registry, MODEL, "1")
    if fileio.is_remote(model_dir):
        fileio.copy_tree(model_dir, target)
    else:
        os.symlink(os.path.abspath(model_dir), target)
    return registry


def json_columns(serialized: list[bytes], features) -> dict[str, list]:
    """The examples as a JSON client sends them: one list per feature, null when missing."""
    from tensorflow.core.example import example_pb2

    columns = {f.name: [] for f in features}
    for data in serialized:
        example = example_pb2.Example.FromString(data).features.feature
        for f in features:
            kind = example[f.name].WhichOneof("kind") if f.name in example else None
            values = list(getattr(example[f.name], kind).value) if kind else []
            value = values[0] if values else None
            columns[f.name].append(value.decode() if isinstance(value, bytes) else value)
    return columns


def _as_columns(outputs, names: list[str]) -> dict[str, list]:
    """An answer's outputs by name. TF Serving's row format gives each row as an object of
    named outputs, except for a model with one output (a regression), whose rows are the
    values themselves."""
    if isinstance(outputs, dict):
        return outputs
    if len(names) == 1 and outputs and not isinstance(outputs[0], dict):
        return {names[0]: outputs}
    return {k: [row[k] for row in outputs] for k in outputs[0]}


def _compare(served: dict, expected: dict[str, np.ndarray], atol: float) -> tuple[float, str]:
    worst = 0.0
    for name, want in expected.items():
        if name not in served:
            return worst, f"output {name!r} missing from the answer"
        got = np.array(served[name])
        if want.dtype == object:
            want = np.vectorize(lambda b: b.decode(), otypes=[object])(want)
            if got.shape != want.shape or not (got == want).all():
                return worst, f"output {name!r} differs from the in-process prediction"
            continue
        if got.shape != want.shape:
            return worst, f"output {name!r} has shape {got.shape}, expected {want.shape}"
        diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        worst = max(worst, diff)
        if diff > atol:
            return worst, f"output {name!r} differs by up to {diff:.3g} (atol {atol:g})"
    return worst, ""


def write_blessing(result: InfraResult, out_uri: str) -> None:
    fileio.makedirs(out_uri)
    marker = INFRA_BLESSED if result.blessed else INFRA_NOT_BLESSED
    fileio.write_text(fileio.join(out_uri, marker), "\n".join(result.reasons) + "\n")
    fileio.write_text(
        fileio.join(out_uri, RESULT_FILE), json.dumps(dataclasses.asdict(result), indent=2)
    )
