"""Shared fixtures: small golden data made from the real Palmer Penguins CSV."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# In-process Beam: the multi-processing default pays worker start-up that dwarfs these tiny
# inputs. The default runner is exercised by the full pipeline test.
FAST_BEAM = ["--runner=DirectRunner", "--direct_running_mode=in_memory"]


@pytest.fixture(scope="session")
def penguins_table() -> pa.Table:
    from kubetfx.components.ingest.core import builtin_penguins_path

    return pacsv.read_csv(
        builtin_penguins_path(),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
    )


def write_csv(table: pa.Table, path) -> str:
    """Write with pyarrow: ints stay ints and nulls are empty, as in the source file."""
    pacsv.write_csv(table, str(path))
    return str(path)


@pytest.fixture
def penguins_csv(tmp_path, penguins_table) -> str:
    return write_csv(penguins_table, tmp_path / "penguins.csv")


@pytest.fixture(scope="session")
def penguins(tmp_path_factory):
    """The default config's model trained on penguins (shared: training takes a minute)."""
    from kubetfx.components.config_loader import load_config
    from tests.modeling import prepare, train

    root = tmp_path_factory.mktemp("penguins")
    cfg = load_config(None)
    paths = prepare(root, cfg)
    paths["model"] = train(cfg, paths, "model")
    return cfg, paths
