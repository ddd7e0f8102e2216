from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from kubetfx.cli import main
from kubetfx.errors import ConfigError
from kubetfx.pipelines import generate


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def small_chunks(monkeypatch):
    # Several chunks on little data: exercises the streaming path quickly.
    monkeypatch.setattr(generate, "CHUNK_ROWS", 1_000)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, small_chunks):
    a, b, c = (tmp_path / f"{n}.csv" for n in "abc")
    for path, seed in ((a, 7), (b, 7), (c, 8)):
        assert main(["generate", "--rows", "2500", "--out", str(path), "--seed", str(seed)]) == 0
    assert _sha(a) == _sha(b)
    assert _sha(a) != _sha(c)
    frame = pd.read_csv(a)
    assert len(frame) == 2500
    assert list(frame.columns) == [*generate.FEATURES, generate.LABEL]


def test_columns_have_the_documented_kinds_and_missing_values(tmp_path, small_chunks):
    path = tmp_path / "d.csv"
    generate.write(str(path), 5_000, seed=1)
    frame = pd.read_csv(path)
    assert frame["income"].isna().mean() == pytest.approx(0.05, abs=0.015)
    assert frame["device"].isna().mean() == pytest.approx(0.03, abs=0.01)
    assert (frame["age"].dropna() % 1 == 0).all()
    assert set(frame["plan"]) == {"basic", "standard", "premium"}
    # The label depends on the features: basic-plan customers churn more than premium ones.
    rate = frame.groupby("plan")["churned"].mean()
    assert rate["basic"] > rate["premium"] + 0.15


def test_parquet_output_matches_csv_rows(tmp_path, small_chunks):
    generate.write(str(tmp_path / "d.parquet"), 1_500, seed=3)
    generate.write(str(tmp_path / "d.csv"), 1_500, seed=3)
    parquet = pd.read_parquet(tmp_path / "d.parquet")
    csv = pd.read_csv(tmp_path / "d.csv")
    pd.testing.assert_series_equal(parquet["income"], csv["income"])
    assert (parquet["region"] == csv["region"]).all()


def _drifted(tmp_path, spec: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    generate.write(str(tmp_path / "base.csv"), 4_000, seed=5)
    generate.write(str(tmp_path / "drift.csv"), 4_000, seed=5, drifts=[generate.Drift.parse(spec)])
    return pd.read_csv(tmp_path / "base.csv"), pd.read_csv(tmp_path / "drift.csv")


def test_mean_shift_moves_the_mean_by_value_standard_deviations(tmp_path, small_chunks):
    base, drift = _drifted(tmp_path, "mean_shift:usage_hours=1.5")
    shift = drift["usage_hours"].mean() - base["usage_hours"].mean()
    assert shift == pytest.approx(1.5 * generate.NUMERIC_STD["usage_hours"], rel=0.01)
    pd.testing.assert_series_equal(base["region"], drift["region"])  # others untouched


def test_category_mix_reverses_frequencies(tmp_path, small_chunks):
    base, drift = _drifted(tmp_path, "category_mix:plan")
    assert base["plan"].value_counts().idxmax() == "basic"
    assert drift["plan"].value_counts().idxmax() == "premium"


def test_new_category_missing_and_drop(tmp_path, small_chunks):
    _, drift = _drifted(tmp_path, "new_category:region=0.25")
    assert (drift["region"] == "new_region").mean() == pytest.approx(0.25, abs=0.03)
    _, drift = _drifted(tmp_path, "missing:age=0.4")
    assert drift["age"].isna().mean() == pytest.approx(0.4, abs=0.03)
    _, drift = _drifted(tmp_path, "drop:device")
    assert "device" not in drift.columns


def test_serving_data_has_no_label(tmp_path, small_chunks):
    generate.write(str(tmp_path / "s.csv"), 100, seed=1, label=False)
    assert generate.LABEL not in pd.read_csv(tmp_path / "s.csv").columns


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("warp:income", "unknown kind 'warp'"),
        ("mean_shift:salary", "unknown feature 'salary'"),
        ("mean_shift:region", "mean_shift does not apply to 'region'"),
        ("missing:age=lots", "VALUE must be a number"),
        ("missing:age=3", "fraction of rows"),
    ],
)
def test_bad_drift_specs_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        generate.Drift.parse(spec)


def test_bad_generate_flags_exit_2(tmp_path, capsys):
    assert main(["generate", "--rows", "0", "--out", str(tmp_path / "x.csv")]) == 2
    assert main(["generate", "--rows", "5", "--out", str(tmp_path / "x.json")]) == 2
    assert main(["generate", "--rows", "5", "--out", "x.csv", "--drift", "warp:x"]) == 2
    err = capsys.readouterr().err
    assert "--rows must be at least 1" in err
    assert "Traceback" not in err
