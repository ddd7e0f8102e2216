"""The baseline step: the champion and reference schema a run imports, or the "none" marker."""

from __future__ import annotations

import json
import os

from kfp import dsl

from kubetfx.components import fileio
from kubetfx.components.baseline.component import baseline
from kubetfx.components.config import PipelineConfig
from kubetfx.components.contracts import baseline_location
from kubetfx.components.reference import ReferenceStore
from kubetfx.components.registry import ModelRegistry


def _call(tmp_path, cfg: PipelineConfig):
    out = dsl.Artifact(name="baselines", uri=str(tmp_path / "out"), metadata={})
    champion, reference_schema = dsl.component(baseline).python_func(
        config=cfg.to_json(), baselines=out
    )
    return champion, reference_schema, out


def _cfg(tmp_path) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "push": {"registry": str(tmp_path / "registry"), "model_name": "m"},
            "reference_root": str(tmp_path / "refs"),
            "data": {"name": "d"},
        }
    )


def test_a_first_run_imports_the_none_marker_and_steps_read_it_as_none(tmp_path):
    champion, reference_schema, out = _call(tmp_path, _cfg(tmp_path))
    assert champion == reference_schema == os.path.join(out.uri, "none")
    assert baseline_location(champion, champion) is None
    assert out.metadata["champion_version"] == -1
    record = json.loads(fileio.read_text(os.path.join(out.uri, "baseline.json")))
    assert record == {"champion": None, "champion_version": None, "reference_schema": None}


def test_the_champion_and_reference_schema_as_they_are_when_the_run_starts(tmp_path):
    cfg = _cfg(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"x")
    registry = ModelRegistry(cfg.push.registry, "m")
    version = registry.push(str(model), {})
    schema = tmp_path / "schema.pbtxt"
    schema.write_text("feature { name: 'a' type: INT }\n")
    store = ReferenceStore(cfg.reference_root, "d")
    store.set_schema(str(schema), "run-0")
    champion, reference_schema, out = _call(tmp_path, cfg)
    assert champion == registry.version_dir(version)
    assert reference_schema == store.directory
    assert out.metadata["champion_version"] == version
    # A step reads the imported artifact where it is; kfp.local's /gcs path for a gs:// URI
    # exists nowhere, so the URI is read then.
    assert baseline_location(champion, "/gcs/nowhere") == champion
    assert baseline_location("gs://b/m/1", champion) == champion
