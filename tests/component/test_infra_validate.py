"""infra_validate against the real model server process, and push's need for its blessing."""

from __future__ import annotations

import json

from kubetfx.components import contracts
from kubetfx.components.config import InfraValidateConfig
from kubetfx.components.evaluate.blessing import RESULT_FILE, Blessing
from kubetfx.components.infra_validate import core
from kubetfx.components.push import core as push
from kubetfx.components.registry import ModelRegistry


def test_the_candidate_is_served_and_answers_like_the_model(penguins, tmp_path):
    _, paths = penguins
    out = tmp_path / "infra"
    result = core.run(
        model_dir=paths["model"],
        examples_uri=paths["examples"],
        cfg=InfraValidateConfig(examples=16),
        out_uri=str(out),
    )
    assert result.blessed, result.reasons
    assert result.reasons == ["b64 tf.Example: answers match", "JSON features: answers match"]
    assert result.examples == 16 and result.ready_seconds > 0
    assert result.max_abs_diff <= 1e-6
    assert (out / core.INFRA_BLESSED).exists()
    assert json.loads((out / core.RESULT_FILE).read_text())["blessed"] is True
    assert contracts.read_infra_blessing(str(out)).blessed


def test_a_server_that_is_not_ready_in_time_is_not_blessed_and_nothing_is_pushed(
    penguins, tmp_path
):
    _, paths = penguins
    out = tmp_path / "infra"
    cfg = InfraValidateConfig(ready_timeout_seconds=0.5, examples=4)
    result = core.run(
        model_dir=paths["model"], examples_uri=paths["examples"], cfg=cfg, out_uri=str(out)
    )
    assert not result.blessed
    assert "not available within 0.5 s" in result.reasons[0]
    assert (out / core.INFRA_NOT_BLESSED).exists()
    # Blessed by evaluate, not by infra validation: push refuses, the registry stays empty.
    blessing = tmp_path / "blessing"
    blessing.mkdir()
    (blessing / RESULT_FILE).write_text(Blessing(True, ["accuracy 1.0 >= 0.9"]).to_json())
    registry = ModelRegistry(str(tmp_path / "registry"), "penguins")
    refused = push.run(
        model_dir=paths["model"],
        blessing_uri=str(blessing),
        infra_blessing_uri=str(out),
        registry=registry,
        metadata={"run": "x"},
    )
    assert not refused.pushed and "not infra-blessed" in refused.reason
    assert registry.versions() == [] and registry.champion() is None
    # No infra blessing at all (a missing artifact) also fails closed.
    missing = push.run(
        model_dir=paths["model"],
        blessing_uri=str(blessing),
        infra_blessing_uri=str(tmp_path / "none"),
        registry=registry,
        metadata={},
    )
    assert not missing.pushed


def test_a_one_output_answer_in_row_format_is_read_by_name():
    """TF Serving's row format: named objects per row, except for a single-output model
    (a regression), whose rows are the values themselves."""
    assert core._as_columns([[1.5], [2.5]], ["predictions"]) == {"predictions": [[1.5], [2.5]]}
    rows = [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert core._as_columns(rows, ["a", "b"]) == {"a": [1, 3], "b": [2, 4]}
    assert core._as_columns({"a": [1]}, ["a"]) == {"a": [1]}
