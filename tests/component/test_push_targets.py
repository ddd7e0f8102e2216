"""Push targets beyond the registry: KServe InferenceService and Vertex AI Endpoint canaries.

No cluster or cloud account exists here. The InferenceService is checked against the
published CRD schema and applied to a fake of the Kubernetes API surface (merge patches as
the API server applies them); Vertex goes through a fake of the few aiplatform calls made,
whose every call is checked to bind to the real SDK's signature. The registry is real.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from kubetfx.components.config import PipelineConfig
from kubetfx.components.evaluate.blessing import RESULT_FILE, Blessing
from kubetfx.components.infra_validate.core import InfraResult, write_blessing
from kubetfx.components.k8s import PERMISSIONS
from kubetfx.components.push import core, kserve
from kubetfx.components.push.deploy import target_for
from kubetfx.components.push.vertex import VertexTarget, canary_split
from kubetfx.components.registry import ModelRegistry
from kubetfx.errors import ConfigError, DeployFailed
from tests.component.fake_aiplatform import FakeAiplatform, assert_calls_match_the_real_sdk
from tests.component.fake_kube import FakeKube, granted
from tests.infra.test_manifests import _validate_custom


@pytest.fixture
def pushable(tmp_path):
    """A registry, a model directory and both blessings: what the push step reads."""
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    (model / "variables" / "variables.index").write_bytes(b"index")
    blessing, infra = tmp_path / "blessing", tmp_path / "infra_blessing"
    blessing.mkdir()
    (blessing / RESULT_FILE).write_text(Blessing(True, ["accuracy 0.97 >= 0.9"]).to_json())
    write_blessing(InfraResult(True, ["served like the model"]), str(infra))
    registry = ModelRegistry(str(tmp_path / "registry"), "penguins")
    return registry, str(model), str(blessing), str(infra)


def _push(pushable, deploy, version_stamp: list[int]):
    registry, model, blessing, infra = pushable
    # Versions are timestamps; successive pushes in one second get the next integer.
    result = core.run(
        model_dir=model,
        blessing_uri=blessing,
        infra_blessing_uri=infra,
        registry=registry,
        metadata={"run": "r"},
        promote=True,
        deploy=deploy,
    )
    version_stamp.append(result.version)
    return result


def _cfg(**push) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "images": {"server": "registry.example/kubetfx-server@sha256:def"},
            "vertex": {"project": "p", "region": "europe-west4", "endpoint": "penguins"},
            "push": {"registry": "gs://bucket/models", **push},
        }
    )


# KServe.


def _ready(obj: dict) -> dict:
    return {
        "observedGeneration": obj["metadata"]["generation"],
        "conditions": [{"type": "Ready", "status": "True"}],
    }


def _kserve(kube: FakeKube, cfg: PipelineConfig | None = None, **kwargs):
    cfg = cfg or _cfg(destination="kserve")
    return kserve.KServeTarget(cfg, kube, out=lambda line: None, **kwargs)


@pytest.mark.parametrize("predictor", ["tensorflow", "server"])
@pytest.mark.parametrize("canary", [None, 10])
def test_inference_service_matches_the_crd(predictor, canary, pushable):
    cfg = _cfg(destination="kserve", kserve={"predictor": predictor})
    isvc = kserve.inference_service(cfg, pushable[0], 20260101000000, canary)
    _validate_custom(isvc)
    spec = isvc["spec"]["predictor"]
    assert spec.get("canaryTrafficPercent") == canary
    assert spec["annotations"] == {kserve.VERSION_ANNOTATION: "20260101000000"}
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    if predictor == "tensorflow":
        assert spec["model"]["storageUri"].endswith("/penguins/.kserve/20260101000000")
    else:
        assert spec["containers"][0]["image"] == "registry.example/kubetfx-server@sha256:def"


def test_the_crd_check_rejects_a_bad_canary(pushable):
    isvc = kserve.inference_service(_cfg(destination="kserve"), pushable[0], 1, 10)
    isvc["spec"]["predictor"]["canaryTrafficPercent"] = "ten"
    with pytest.raises(AssertionError):
        _validate_custom(isvc)


def test_first_push_creates_then_later_pushes_roll_out_canaries(pushable):
    registry = pushable[0]
    kube = FakeKube()
    kube.isvc_status = _ready
    versions: list[int] = []
    _push(pushable, _kserve(kube).deploy, versions)
    (created,) = kube.called("create_inference_service")
    assert "canaryTrafficPercent" not in created[1]["spec"]["predictor"]  # nothing to share with
    # TF Serving's base directory holds only this version, saved_model.pb included.
    base = kserve.storage_uri(registry, versions[0])
    with open(f"{base}/{versions[0]}/saved_model.pb", "rb") as f:
        assert f.read() == b"graph"

    result = _push(pushable, _kserve(kube).deploy, versions)
    isvc = kube.objects[("InferenceService", "penguins")]
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == kserve.storage_uri(registry, versions[1])
    assert predictor["annotations"][kserve.VERSION_ANNOTATION] == str(versions[1])
    _validate_custom({k: v for k, v in isvc.items() if k != "status"})
    assert registry.champion()["version"] == versions[1]
    assert "at 10%" in result.deployed


def test_promote_and_rollback_are_merge_patches_of_the_canary(pushable):
    kube = FakeKube()
    kube.isvc_status = _ready
    versions: list[int] = []
    for _ in range(2):
        _push(pushable, _kserve(kube).deploy, versions)
    target = _kserve(kube)
    rollback = target.change("rollback")
    assert rollback["merge_patch"] == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}
    target.apply(rollback)
    assert (
        kube.objects[("InferenceService", "penguins")]["spec"]["predictor"]["canaryTrafficPercent"]
        == 0
    )
    target.apply(target.change("promote"))
    isvc = kube.objects[("InferenceService", "penguins")]
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]  # the new revision: 100%
    _validate_custom({k: v for k, v in isvc.items() if k != "status"})


def test_a_revision_that_fails_to_load_is_rolled_back_and_the_champion_stays(pushable):
    registry = pushable[0]
    kube = FakeKube()
    kube.isvc_status = _ready
    versions: list[int] = []
    _push(pushable, _kserve(kube).deploy, versions)

    def blocked(obj):
        status = _ready(obj)
        status["conditions"][0]["status"] = "False"
        status["modelStatus"] = {
            "transitionStatus": "BlockedByFailedLoad",
            "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "Op type not registered"},
        }
        return status

    kube.isvc_status = blocked
    with pytest.raises(DeployFailed, match="BlockedByFailedLoad: Op type not registered"):
        _push(pushable, _kserve(kube).deploy, versions)
    last_patch = kube.called("patch_inference_service")[-1][2]
    assert last_patch == kserve.ROLLBACK_PATCH
    assert registry.champion()["version"] == versions[0]
    assert len(registry.versions()) == 2  # the new version stays, as a challenger


def test_a_revision_that_never_gets_ready_times_out(pushable):
    kube = FakeKube()
    kube.isvc_status = _ready
    versions: list[int] = []
    _push(pushable, _kserve(kube).deploy, versions)
    kube.isvc_status = lambda obj: {"observedGeneration": obj["metadata"]["generation"] - 1}
    now = [0.0]
    target = _kserve(kube, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    with pytest.raises(DeployFailed, match="not ready after 600s"):
        _push(pushable, target.deploy, versions)
    assert pushable[0].champion()["version"] == versions[0]


def test_the_deployer_role_grants_exactly_what_the_kserve_target_calls(pushable):
    kube = FakeKube()
    kube.isvc_status = _ready
    for _ in range(2):
        _push(pushable, _kserve(kube).deploy, [])
    target = _kserve(kube)
    target.apply(target.change("promote"))
    used = {method for method, _ in kube.calls}
    assert granted("kserve-deployer.yaml") == {PERMISSIONS[m] for m in used}


# Vertex AI.


@pytest.mark.parametrize(
    ("current", "canary", "expected"),
    [
        ({}, 10, {"0": 100}),
        ({"a": 100}, 10, {"0": 10, "a": 90}),
        ({"a": 100}, 100, {"0": 100}),
        ({"a": 50, "b": 50}, 15, {"0": 15, "a": 43, "b": 42}),
        ({"a": 90, "b": 10, "c": 0}, 25, {"0": 25, "a": 68, "b": 7}),
        ({"a": 1, "b": 1, "c": 1}, 1, {"0": 1, "a": 33, "b": 33, "c": 33}),
    ],
)
def test_canary_split_arithmetic(current, canary, expected):
    split = canary_split(current, canary)
    assert split == expected
    assert sum(split.values()) == 100


def _vertex(sdk: FakeAiplatform, **push) -> VertexTarget:
    cfg = _cfg(
        destination="vertex", vertex={"serving_image": "europe-docker.pkg.dev/x/tf:2.16"}, **push
    )
    return VertexTarget(cfg, sdk)


def test_vertex_first_push_uploads_a_model_and_deploys_it_with_all_traffic(pushable):
    registry = pushable[0]
    sdk = FakeAiplatform()
    versions: list[int] = []
    result = _push(pushable, _vertex(sdk).deploy, versions)
    uploads = [kw for name, kw in sdk.calls if name == "Model.upload"]
    assert uploads[0]["parent_model"] is None
    assert uploads[0]["artifact_uri"] == registry.version_dir(versions[0])
    assert uploads[0]["serving_container_image_uri"] == "europe-docker.pkg.dev/x/tf:2.16"
    assert uploads[0]["labels"] == {"kubetfx-version": str(versions[0])}
    (deploy,) = [kw for name, kw in sdk.calls if name == "Endpoint.deploy"]
    assert deploy["traffic_split"] == {"0": 100}
    assert (deploy["machine_type"], deploy["min_replica_count"]) == ("n1-standard-2", 1)
    assert "at 100%" in result.deployed
    assert_calls_match_the_real_sdk(sdk.calls)


def test_vertex_later_pushes_are_versions_of_the_parent_deployed_as_canaries(pushable):
    sdk = FakeAiplatform()
    for _ in range(2):
        _push(pushable, _vertex(sdk).deploy, [])
    upload = [kw for name, kw in sdk.calls if name == "Model.upload"][-1]
    assert upload["parent_model"] == "projects/p/models/77"
    endpoint = sdk.endpoints[0]
    first, second = (m.id for m in endpoint.deployed)
    assert endpoint.traffic_split == {second: 10, first: 90}
    assert_calls_match_the_real_sdk(sdk.calls)


def test_vertex_promote_and_rollback(pushable):
    sdk = FakeAiplatform()
    for _ in range(2):
        _push(pushable, _vertex(sdk).deploy, [])
    endpoint = sdk.endpoints[0]
    first, second = (m.id for m in endpoint.deployed)
    target = _vertex(sdk)
    rollback = target.change("rollback")
    assert (rollback["traffic_split"], rollback["undeploy"]) == ({first: 100}, [second])
    assert endpoint.traffic_split == {second: 10, first: 90}  # planning changes nothing
    target.apply(rollback)
    assert endpoint.traffic_split == {first: 100}
    assert [m.id for m in endpoint.deployed] == [first]
    with pytest.raises(DeployFailed, match="rollback needs a canary and a previous one"):
        target.change("rollback")

    _push(pushable, target.deploy, [])
    third = endpoint.deployed[-1].id
    promote = target.change("promote")
    assert (promote["traffic_split"], promote["undeploy"]) == ({third: 100}, [first])
    target.apply(promote)
    assert endpoint.traffic_split == {third: 100}
    assert [m.id for m in endpoint.deployed] == [third]
    assert_calls_match_the_real_sdk(sdk.calls)


def test_a_failed_vertex_deploy_leaves_endpoint_and_champion_untouched(pushable):
    from google.api_core.exceptions import FailedPrecondition

    registry = pushable[0]
    sdk = FakeAiplatform()
    versions: list[int] = []
    _push(pushable, _vertex(sdk).deploy, versions)
    endpoint = sdk.endpoints[0]
    before = (dict(endpoint.traffic_split), [m.id for m in endpoint.deployed])
    sdk.fail_deploy = FailedPrecondition("quota exceeded for n1-standard-2")
    with pytest.raises(DeployFailed, match="quota exceeded"):
        _push(pushable, _vertex(sdk).deploy, versions)
    assert (endpoint.traffic_split, [m.id for m in endpoint.deployed]) == before
    assert registry.champion()["version"] == versions[0]


def test_the_default_vertex_serving_image_matches_the_training_tensorflow():
    target = VertexTarget(_cfg(destination="vertex"), credentials=None)
    try:
        image = target.serving_image()
    except ConfigError as e:  # this SDK knows no TF 2.16 container: the field to set is named
        assert "push.vertex.serving_image" in str(e)
    else:
        assert "tf2-cpu.2-16" in image


def test_push_target_config_errors_name_the_field():
    from kubetfx.components.config_loader import validate_config

    with pytest.raises(ConfigError, match="push.registry"):
        validate_config({"push": {"destination": "vertex"}}, "test")  # a local registry
    with pytest.raises(ConfigError, match="push.target is now push.destination"):
        validate_config({"push": {"target": "kserve"}}, "test")  # the old key
    with pytest.raises(ConfigError, match="push.canary_percent"):
        validate_config({"push": {"canary_percent": 0}}, "test")
    with pytest.raises(ConfigError, match="vertex.project"):
        target_for(PipelineConfig.model_validate({"push": {"registry": "gs://b/m"}}), "vertex")


# `kubetfx promote|rollback --dry-run`.


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "push": {
                    "registry": "gs://b/models",
                    "destination": "kserve",
                    "kserve": {"name": "churn"},
                }
            }
        )
    )
    return str(path)


@pytest.mark.parametrize(("action", "canary"), [("promote", None), ("rollback", 0)])
def test_cli_dry_run_prints_the_exact_patch(action, canary, config_file, capsys):
    from kubetfx.cli import main

    assert main([action, "--dry-run", "--config", config_file]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "target": "kserve",
        "action": action,
        "namespace": "kubetfx-serving",
        "inference_service": "churn",
        "merge_patch": {"spec": {"predictor": {"canaryTrafficPercent": canary}}},
    }


def test_cli_promote_needs_a_serving_target(tmp_path, capsys):
    from kubetfx.cli import main

    assert main(["promote", "--dry-run"]) == 2
    assert "--destination" in capsys.readouterr().err
    assert main(["rollback", "--destination", "vertex", "--dry-run"]) == 2
    assert "vertex.project" in capsys.readouterr().err


# Idempotent push: the same model twice is pushed and deployed once.
def _fingerprinted(model: str, checkpoint: int = 7, vocabulary: bytes = b"Biscoe\nDream\n"):
    """Give the fixture's model a TensorFlow fingerprint and a vocabulary asset."""
    from tensorflow.core.protobuf import fingerprint_pb2

    fp = fingerprint_pb2.FingerprintDef(
        saved_model_checksum=int.from_bytes(os.urandom(7), "big"),  # raw bytes: every run
        graph_def_program_hash=11,
        signature_def_hash=22,
        saved_object_graph_hash=33,
        checkpoint_hash=checkpoint,
    )
    with open(os.path.join(model, "fingerprint.pb"), "wb") as f:
        f.write(fp.SerializeToString())
    os.makedirs(os.path.join(model, "assets"), exist_ok=True)
    with open(os.path.join(model, "assets", "island"), "wb") as f:
        f.write(vocabulary)


def test_the_same_model_again_is_neither_pushed_nor_deployed(pushable):
    registry, model, *_ = pushable
    _fingerprinted(model)
    deployed = []
    first = _push(pushable, lambda reg, v: deployed.append(v) or "deployed", [])
    assert first.pushed and deployed == [first.version]
    assert registry.metadata(first.version)["model_digest"].startswith("sha256:")
    # A rerun: TF's raw-bytes checksum differs (node names, temp paths), the model does not.
    _fingerprinted(model)
    again = _push(pushable, lambda reg, v: deployed.append(v) or "deployed", [])
    assert not again.pushed and again.version == first.version
    assert f"the same model as version {first.version}" in again.reason
    assert "nothing deployed" in again.reason
    assert deployed == [first.version] and registry.versions() == [first.version]
    assert again.metadata("kserve")["pushed"] is False


@pytest.mark.parametrize(
    "change", [{"checkpoint": 8}, {"vocabulary": b"Biscoe\nTorgersen\n"}], ids=["weights", "asset"]
)
def test_a_model_that_differs_in_weights_or_assets_is_pushed(pushable, change):
    registry, model, *_ = pushable
    _fingerprinted(model)
    first = _push(pushable, None, [])
    _fingerprinted(model, **change)
    second = _push(pushable, None, [])
    assert second.pushed and second.version != first.version
    assert (
        registry.metadata(second.version)["model_digest"]
        != registry.metadata(first.version)["model_digest"]
    )


def test_a_version_pushed_before_digests_were_recorded_is_recognised_by_its_files(pushable):
    registry, model, *_ = pushable
    _fingerprinted(model)
    version = registry.push(model, {"run": "old"})  # no model_digest in its metadata
    again = _push(pushable, None, [])
    assert not again.pushed and again.version == version


def test_a_model_without_a_fingerprint_is_pushed_as_before(pushable):
    registry, *_ = pushable
    versions: list[int] = []
    for _ in range(2):
        assert _push(pushable, None, versions).pushed
    assert len(registry.versions()) == 2
    assert registry.metadata(versions[0])["model_digest"] is None


# Request logging for `kubetfx monitor` (serving.request_log).


def test_the_tensorflow_predictor_posts_every_request_to_the_event_sink(pushable):
    from kubetfx.components.monitor.sources import VERSION_ANNOTATION
    from kubetfx.serving.config import DEFAULT_SINK_URL

    isvc = kserve.inference_service(_cfg(destination="kserve"), pushable[0], 20260101000000, 10)
    _validate_custom(isvc)
    predictor = isvc["spec"]["predictor"]
    assert predictor["logger"] == {
        "mode": "all",
        "url": DEFAULT_SINK_URL,
        "metadataAnnotations": [kserve.VERSION_ANNOTATION],
    }
    # The annotation the logger passes on is the one the monitor reads the version from.
    assert VERSION_ANNOTATION == kserve.VERSION_ANNOTATION
    assert predictor["annotations"] == {VERSION_ANNOTATION: "20260101000000"}

    def logger(predictor_kind, url):
        cfg = _cfg(destination="kserve", kserve={"predictor": predictor_kind})
        cfg = cfg.model_copy(
            update={
                "serving": cfg.serving.model_validate({"request_log": {"kserve_logger_url": url}})
            }
        )
        spec = kserve.inference_service(cfg, pushable[0], 1, None)
        _validate_custom(spec)
        return spec["spec"]["predictor"].get("logger")

    assert logger("tensorflow", "https://sink.example:8443/events")["url"] == (
        "https://sink.example:8443/events"
    )
    assert logger("tensorflow", None) is None  # turned off
    assert logger("server", DEFAULT_SINK_URL) is None  # the server writes its own JSONL


def test_the_crd_check_rejects_a_bad_logger_mode(pushable):
    isvc = kserve.inference_service(_cfg(destination="kserve"), pushable[0], 1, None)
    isvc["spec"]["predictor"]["logger"]["mode"] = "everything"
    with pytest.raises(AssertionError):
        _validate_custom(isvc)


def test_a_vertex_endpoint_is_created_logging_requests_to_bigquery_when_configured(pushable):
    sdk = FakeAiplatform()
    cfg = _cfg(destination="vertex", vertex={"serving_image": "europe-docker.pkg.dev/x/tf:2.16"})
    cfg = cfg.model_copy(
        update={
            "serving": cfg.serving.model_validate(
                {
                    "request_log": {
                        "bigquery_table": "my-project.serving_logs.penguins",
                        "sample_rate": 0.25,
                    }
                }
            )
        }
    )
    _push(pushable, VertexTarget(cfg, sdk).deploy, [])
    (create,) = [kw for name, kw in sdk.calls if name == "Endpoint.create"]
    assert create == {
        "display_name": "penguins",
        "enable_request_response_logging": True,
        "request_response_logging_sampling_rate": 0.25,
        "request_response_logging_bq_destination_table": "bq://my-project.serving_logs.penguins",
        "project": "p",
        "location": "europe-west4",
        "credentials": None,
    }
    assert_calls_match_the_real_sdk(sdk.calls)
    # Unconfigured, the endpoint is created as before: no logging arguments at all.
    sdk = FakeAiplatform()
    _push(pushable, _vertex(sdk).deploy, [])
    (create,) = [kw for name, kw in sdk.calls if name == "Endpoint.create"]
    assert not any(key.startswith("request_response") for key in create)
    assert "enable_request_response_logging" not in create


def test_request_log_config_errors_name_the_field():
    from kubetfx.components.config_loader import validate_config

    with pytest.raises(ConfigError, match="bigquery_table"):
        validate_config({"serving": {"request_log": {"bigquery_table": "just-a-table"}}}, "t")
    with pytest.raises(ConfigError, match="serving.request_log.bigquery_table"):
        validate_config({"serving": {"request_log": {"source": "vertex_bigquery"}}}, "t")
    with pytest.raises(ConfigError, match="kserve_logger_url"):
        validate_config({"serving": {"request_log": {"kserve_logger_url": "sink:80"}}}, "t")
    cfg = validate_config(
        {"serving": {"request_log": {"bigquery_table": "bq://my-project.logs.penguins"}}}, "t"
    )
    assert cfg.serving.request_log.bigquery_table == "my-project.logs.penguins"
