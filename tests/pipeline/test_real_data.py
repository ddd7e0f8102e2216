"""Other people's real data through `kubetfx run --data ... --label ...`, as a stranger would
run it: no config beyond a small epoch count, the first run of each dataset ends with a
pushed model through the default gate. The files ship inside packages pinned in the lock
(none is generated, none is penguins):

- great_tables' nuclides (3,383 rows): a long-tailed categorical (`element`, 118 values,
  most under 1% of rows), columns present in 2-10% of rows, a TRUE/FALSE label;
- great_tables' pizzaplace (49,574 rows): regression on `price`, dates and times as text;
- vega_datasets' seattle-weather (1,461 rows): five weather classes, two of them rare.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from kubetfx.components.registry import ModelRegistry
from tests.conftest import FAST_BEAM
from tests.pipeline.test_local_run import STEPS, kubetfx

pytestmark = pytest.mark.pipeline


def packaged(package: str, *parts: str) -> str:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    assert spec is not None, f"{package} is in requirements/lock.txt: run `make setup`"
    return str(Path(spec.submodule_search_locations[0], *parts))


DATASETS = {
    "nuclides": (("great_tables", "data", "16-nuclides.csv"), "is_stable", "accuracy"),
    "pizzaplace": (("great_tables", "data", "05-pizzaplace.csv"), "price", "mean_squared_error"),
    "seattle-weather": (("vega_datasets", "_data", "seattle-weather.csv"), "weather", "accuracy"),
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_first_run_of_real_data_pushes_a_model(tmp_path, name):
    parts, label, metric = DATASETS[name]
    # Few epochs keep the suite's time in check; every stage still runs in full.
    (tmp_path / "fast.yaml").write_text(
        "train: {epochs: 3, early_stopping_patience: 2}\n"
        + f"beam: {{pipeline_args: {json.dumps(FAST_BEAM)}}}\n"
    )
    done = kubetfx(
        "run", "--data", packaged(*parts), "--label", label, "--config", "fast.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for step in STEPS:
        assert any(line.split()[:2] == [step, "SUCCEEDED"] for line in done.stdout.splitlines())
    assert f"default gate held (evaluate.thresholds is empty): {metric} " in done.stdout
    assert "A stricter gate: set evaluate.thresholds" in done.stdout
    dataset = os.path.splitext(os.path.basename(parts[-1]))[0].lower()
    registry = ModelRegistry(str(tmp_path / "model_registry"), dataset)
    champion = registry.champion()
    assert champion is not None, output[-3000:]
    assert f"Pushed: version {champion['version']} -> " in done.stdout
