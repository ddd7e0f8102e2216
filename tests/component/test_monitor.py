"""Monitoring on serving logs made from `kubetfx generate` rows: TFDV statistics, distances,
two-sample tests, the small/large window behaviour and live quality with delayed labels."""

from __future__ import annotations

import datetime
import functools
import json

import numpy as np
import pandas as pd
import pytest

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig, SchemaConfig
from kubetfx.components.monitor import compare, core
from kubetfx.components.monitor import window as windows
from kubetfx.components.reference import ReferenceStore
from kubetfx.components.registry import ModelRegistry
from kubetfx.errors import DataError
from tests import serving_traffic as simulate

T0 = datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
KINDS = {
    "age": "int",
    "income": "float",
    "tenure_months": "int",
    "usage_hours": "float",
    "region": "string",
    "plan": "string",
    "device": "string",
    "churned": "int",
}
FEATURES = {"age", "income", "tenure_months", "usage_hours", "region", "plan", "device"}
EVAL_METRICS = {
    "overall": {"accuracy": 0.74, "example_count": 1500.0},
    "plan=basic": {"accuracy": 0.7, "example_count": 750.0},
}


def champion_setup(root, train_rows: int = 5000, **monitor) -> tuple[PipelineConfig, int]:
    """What a training run leaves behind, for the champion run 'run-1': the reference schema
    and its train statistics (with the run in the history), a registry entry, metrics.json.

    The registry version holds only a saved_model.pb placeholder: monitoring reads the
    registry's metadata, never the model.
    """
    from kubetfx.components.schema.core import infer, write

    stats = compare.statistics(simulate.rows(train_rows, seed=1), KINDS)
    run_dir = root / "pipeline_root" / "run-1"
    stats_path = str(run_dir / "statistics" / "statistics" / "Split-train" / "FeatureStats.pb")
    fileio.write_bytes(stats_path, stats.SerializeToString())
    schema_path = str(run_dir / "schema" / "schema" / "schema.pbtxt")
    write(infer(stats, "churned", SchemaConfig()), schema_path)
    store = ReferenceStore(str(root / "references"), "churn")
    store.set_schema(schema_path, "run-1")
    store.set_statistics(stats_path, "run-1")
    fileio.write_text(
        str(run_dir / "evaluate" / "evaluation" / "metrics.json"),
        json.dumps({"candidate": EVAL_METRICS, "baseline_overall": {}}),
    )
    model_dir = root / "model"
    model_dir.mkdir()
    (model_dir / "saved_model.pb").write_bytes(b"placeholder")
    version = ModelRegistry(str(root / "registry"), "churn").push(str(model_dir), {"run": "run-1"})
    return PipelineConfig.model_validate(
        {
            "data": {"path": str(root / "churn.csv"), "label": "churned"},
            "pipeline_root": str(root / "pipeline_root"),
            "reference_root": str(root / "references"),
            "push": {"registry": str(root / "registry"), "model_name": "churn"},
            "serving": {"request_log": {"dir": str(root / "logs")}},
            "monitor": {"output_dir": str(root / "monitoring"), **monitor},
        }
    ), version


def write_hour(cfg, hour: int, rows: int, seed: int, drifts=(), version: int = 1) -> pd.DataFrame:
    frame = simulate.rows(rows, seed, list(drifts))
    records = simulate.records(frame, T0 + hour * HOUR, 3600, "churn", version, prefix=f"h{hour}")
    simulate.write(cfg.serving.request_log.dir, records)
    return frame


def hour_window(hour: int) -> windows.Window:
    return windows.Window(T0 + hour * HOUR, T0 + (hour + 1) * HOUR)


def flagged_inputs(result) -> set[str]:
    return {s["feature"] for s in result.shifts if s["flagged"] and s["feature"] in FEATURES}


@pytest.fixture(scope="module")
def stationary(tmp_path_factory):
    """22 hours of logs from one distribution, 1000 requests an hour."""
    root = tmp_path_factory.mktemp("stationary")
    cfg, version = champion_setup(root)
    for hour in range(22):
        write_hour(cfg, hour, 1000, seed=100 + hour, version=version)
    return cfg


def test_no_drift_raises_at_most_10_percent_false_alarms_over_21_windows(stationary):
    results = [core.run(cfg=stationary, window=hour_window(h))[0] for h in range(1, 22)]
    assert all(r.window["rows"] == 1000 and r.previous["rows"] == 1000 for r in results)
    assert all(r.champion_version is not None and r.run == "run-1" for r in results)
    # Every window was compared against both baselines, with every test counted.
    kinds = {(s["feature"], s["kind"]) for s in results[0].shifts}
    assert {(f, k) for f in FEATURES for k in ("skew", "drift")} <= kinds
    assert ("prediction.class", "drift") in kinds
    alarms = sum(r.verdict == "drift" for r in results)
    # The corrected tests alone (the most sensitive rule) must also keep their promise.
    test_alarms = sum(any(s["significant"] for s in r.shifts) for r in results)
    print(f"false alarms: {alarms}/21 (default rule), {test_alarms}/21 (tests alone)")
    assert alarms / len(results) <= 0.10
    assert test_alarms / len(results) <= 0.10
    # The policy's input and the reports are written per window.
    last = results[-1]
    body = json.loads(fileio.read_text(fileio.join(last.uri, core.RESULT_FILE)))
    assert body["verdict"] == last.verdict
    page = fileio.read_text(fileio.join(last.uri, core.REPORT_HTML))
    assert "<script" not in page and "http" not in page.split("</style>")[1]


@pytest.mark.parametrize(
    "drift, feature",
    [("category_mix:plan", "plan"), ("mean_shift:income=1.5", "income")],
)
def test_drift_in_one_feature_flags_that_feature_only(tmp_path, drift, feature):
    cfg, version = champion_setup(tmp_path)
    write_hour(cfg, 0, 1500, seed=7, version=version)
    write_hour(cfg, 1, 1500, seed=8, drifts=[drift], version=version)
    result, markdown, page = core.run(cfg=cfg, window=hour_window(1))
    assert result.verdict == "drift"
    assert flagged_inputs(result) == {feature}
    kinds = {s["kind"] for s in result.shifts if s["flagged"] and s["feature"] == feature}
    assert kinds == {"skew", "drift"}
    # Ranked first among the inputs (the predictions it moved may rank above), in both
    # reports, with both window sizes.
    inputs = [s["feature"] for s in result.shifts if s["feature"] in FEATURES]
    assert inputs[0] == feature
    assert "1,500 rows" in markdown and f"| {feature} |" in markdown
    assert feature in page and "previous window" in page


@functools.cache
def _training():
    from kubetfx.components.schema.core import infer

    stats = compare.statistics(simulate.rows(5000, seed=1), KINDS)
    return stats, infer(stats, "churned", SchemaConfig())


def _compare(n: int, seeds: tuple[int, int], drifts=(), **settings):
    cfg = PipelineConfig.model_validate({"monitor": {"min_window_rows": 10, **settings}}).monitor
    stats, schema = _training()

    def frame(seed, d=()):
        return windows.to_frame(simulate.records(simulate.rows(n, seed, list(d)), T0, 3600))

    shifts, _, _ = compare.compare(
        frame(seeds[0], drifts), frame(seeds[1]), schema, stats, cfg, "churned"
    )
    return {(s.feature, s.kind): s for s in shifts}


def test_small_windows_distances_alone_would_alarm_but_the_tests_do_not():
    """20-row windows, no drift: TFDV distances often exceed 0.3 by chance alone."""
    distance_alarms = flagged = 0
    for seed in range(10):
        shifts = _compare(20, (100 + seed, 200 + seed))
        distance_alarms += any(s.distance > s.threshold for s in shifts.values())
        flagged += any(s.flagged for s in shifts.values())
        noisy = [s for s in shifts.values() if s.distance > s.threshold]
        assert all(s.status.startswith("distance only") for s in noisy)
    assert distance_alarms >= 3  # what a distance-only monitor would have raised
    assert flagged == 0


def test_a_small_real_shift_is_caught_by_the_test_on_a_large_window_only():
    """0.25 standard deviations of usage_hours: far under the distance threshold at any
    size; the KS test misses it on 30 rows and rejects it on 3000."""
    small = _compare(30, (20, 21), ["mean_shift:usage_hours=0.25"])
    large = _compare(3000, (20, 21), ["mean_shift:usage_hours=0.25"])
    for kind in ("skew", "drift"):
        s, big = small[("usage_hours", kind)], large[("usage_hours", kind)]
        assert not s.significant and not s.flagged
        assert big.significant and big.distance < big.threshold
        assert 0.15 < big.shift < big.shift_threshold  # a quarter SD, under the 0.3 default
        assert not big.flagged  # default rule: real but small, reported and not acted on
        assert big.status == "significant, below the distance threshold"
    # flag_when: test acts on it.
    strict = _compare(3000, (20, 21), ["mean_shift:usage_hours=0.25"], flag_when="test")
    assert strict[("usage_hours", "drift")].flagged and strict[("usage_hours", "skew")].flagged
    assert not any(s.flagged for (f, _), s in strict.items() if f in FEATURES - {"usage_hours"})


PENGUIN_NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")


@pytest.fixture(scope="module")
def penguin_baseline(penguins_table):
    """Real data: the Palmer Penguins rows as the training data (statistics and schema)."""
    from kubetfx.components.schema.core import infer

    frame = penguins_table.to_pandas()
    kinds = {
        c: "int" if pd.api.types.is_integer_dtype(frame[c]) else
        "float" if pd.api.types.is_float_dtype(frame[c]) else "string"
        for c in frame.columns
    }  # fmt: skip
    stats = compare.statistics(frame, kinds)
    return frame.drop(columns=["species"]), stats, infer(stats, "species", SchemaConfig())


def test_default_rule_catches_half_an_sd_and_keeps_false_alarms_under_5_percent(
    penguin_baseline,
):
    """The default rule's power and false alarm rate, measured on windows of 1,000 rows drawn
    from the real penguins rows: 50 stationary windows (each against the one before and the
    training statistics) and 50 windows where one numeric feature moved by half its SD."""
    features, stats, schema = penguin_baseline
    cfg = PipelineConfig.model_validate({}).monitor
    rng = np.random.default_rng(0)

    def window(shifted: str | None = None) -> pd.DataFrame:
        rows = features.sample(1000, replace=True, random_state=rng).reset_index(drop=True)
        if shifted:
            rows[shifted] = rows[shifted] + 0.5 * features[shifted].std()
        return rows

    def judge(current, previous):
        shifts, anomalies, _ = compare.compare(current, previous, schema, stats, cfg, "species")
        return [s for s in shifts if s.flagged], anomalies, shifts

    stationary = [window() for _ in range(51)]
    false_alarms = 0
    for previous, current in zip(stationary, stationary[1:], strict=False):
        flagged, anomalies, _ = judge(current, previous)
        false_alarms += bool(flagged or anomalies)
    caught = {"skew": 0, "drift": 0, "either": 0}
    collateral = distance_alone = 0
    for i in range(50):
        moved = PENGUIN_NUMERIC[i % len(PENGUIN_NUMERIC)]
        flagged, _, shifts = judge(window(moved), stationary[i])
        # The rule before the shift in SDs: TFDV's distance over its threshold and the test.
        distance_alone += any(
            s.feature == moved and s.distance > s.threshold and s.significant for s in shifts
        )
        kinds = {s.kind for s in flagged if s.feature == moved}
        for kind in ("skew", "drift"):
            caught[kind] += kind in kinds
        caught["either"] += bool(kinds)
        collateral += any(s.feature != moved for s in flagged)
    print(
        f"false alarms {false_alarms}/50 stationary windows; 0.5-SD shift caught in "
        f"{caught['either']}/50 (skew {caught['skew']}, drift {caught['drift']}); "
        f"another feature also flagged in {collateral}/50; TFDV's distance alone would "
        f"have caught {distance_alone}/50"
    )
    assert false_alarms / 50 <= 0.05
    assert caught["either"] / 50 >= 0.95
    assert caught["skew"] / 50 >= 0.95 and caught["drift"] / 50 >= 0.95


def test_prediction_drift_is_flagged_under_the_same_rule():
    """A shift of usage_hours moves the churn score: the probability's shift in SDs is over
    its threshold while its Jensen-Shannon distance (the only signal before) is not."""
    shifts = _compare(1000, (20, 21), ["mean_shift:usage_hours=1.5"])
    moved = shifts[("prediction.probability_1", "drift")]
    assert moved.flagged and moved.significant
    assert moved.shift > moved.shift_threshold and moved.distance < moved.threshold
    # Stationary traffic leaves the prediction alone.
    calm = _compare(1000, (20, 21))[("prediction.probability_1", "drift")]
    assert not calm.flagged and calm.shift < 0.1


def _labelled_hour(tmp_path, wrong: float, **monitor):
    """A window of 300 requests with delayed labels, `wrong` of them flipped."""
    cfg, version = champion_setup(tmp_path, train_rows=2000, min_window_rows=100, **monitor)
    write_hour(cfg, 0, 300, seed=3, version=version)
    frame = write_hour(cfg, 1, 300, seed=4, version=version)
    labels = simulate.labels(frame, prefix="h1")
    flip = np.random.default_rng(0).random(len(labels)) < wrong
    labels.loc[flip, "churned"] = 1 - labels.loc[flip, "churned"]
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    monitor = cfg.monitor.model_copy(update={"labels": str(path)})
    return core.run(cfg=cfg.model_copy(update={"monitor": monitor}), window=hour_window(1))


@pytest.mark.parametrize(
    "settings, reason",
    [
        ({"min_live_metric": 0.6}, "< monitor.min_live_metric 0.6"),
        ({"max_live_drop": 0.1}, "> monitor.max_live_drop 0.1"),
    ],
)
def test_live_quality_falling_is_a_drift_the_policy_acts_on(tmp_path, settings, reason):
    """Half the predictions turn out wrong, the features do not move: concept drift."""
    result, markdown, _ = _labelled_hour(tmp_path, wrong=0.5, **settings)
    assert result.verdict == "drift"
    assert not flagged_inputs(result)
    (why,) = result.flagged
    assert why.startswith("live quality (live accuracy") and reason in why
    assert result.live["metric"] == "accuracy" and result.live["labelled"] == 300
    assert result.live["eval"] == EVAL_METRICS["overall"]["accuracy"]
    assert result.summary()["live"] == result.live  # what the alert carries
    assert f"- live quality: {result.describe_live()}" in markdown


def test_live_quality_within_bounds_or_on_too_few_labels_changes_nothing(tmp_path):
    good, _, _ = _labelled_hour(tmp_path / "a", wrong=0.0, min_live_metric=0.6)
    assert good.live["live"] > 0.6 and good.verdict == "no drift"
    few, _, _ = _labelled_hour(tmp_path / "b", wrong=0.5, min_live_metric=0.6, min_labeled_rows=301)
    assert few.live["live"] < 0.6 and few.verdict == "no drift"


def test_live_quality_with_delayed_labels_equals_a_direct_computation(tmp_path):
    cfg, version = champion_setup(tmp_path)
    write_hour(cfg, 0, 400, seed=3, version=version)
    frame = write_hour(cfg, 1, 800, seed=4, version=version)
    labels = simulate.labels(frame, prefix="h1")
    kept = labels.sample(frac=0.7, random_state=0)  # 30% of the labels have not arrived
    stray = pd.DataFrame({"request_id": ["unknown-1", "unknown-2"], "churned": [0, 1]})
    path = tmp_path / "labels.parquet"
    pd.concat([kept, stray]).to_parquet(path)
    cfg = cfg.model_copy(
        update={
            "monitor": cfg.monitor.model_copy(update={"labels": str(path), "min_window_rows": 100})
        }
    )
    result, markdown, _ = core.run(cfg=cfg, window=hour_window(1))

    predicted = (simulate.churn_probability(frame) >= 0.5).astype(int)
    direct = frame.assign(predicted=predicted, request_id=[f"h1-{i}" for i in range(len(frame))])
    direct = direct[direct["request_id"].isin(kept["request_id"])]
    correct = direct["predicted"] == direct["churned"]
    table = {(r["slice"], r["metric"]): r for r in result.quality}
    assert result.labels["joined"] == len(kept) and result.labels["labels"] == len(kept) + 2
    assert table[("overall", "accuracy")]["live"] == pytest.approx(correct.mean())
    assert table[("overall", "example_count")]["live"] == len(kept)
    for plan, rows in direct.groupby("plan"):
        expected = (rows["predicted"] == rows["churned"]).mean()
        assert table[(f"plan={plan}", "accuracy")]["live"] == pytest.approx(expected)
    # Next to the champion's evaluation-time quality, with the change.
    overall = table[("overall", "accuracy")]
    assert overall["eval"] == EVAL_METRICS["overall"]["accuracy"]
    assert overall["change"] == pytest.approx(correct.mean() - 0.74)
    assert "Live quality" in markdown and f"{len(kept):,} of 800" in markdown
    assert np.isfinite(table[("plan=basic", "accuracy")]["eval"])


def test_labels_without_the_label_column_are_refused_naming_it(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("request_id,truth\nr1,1\n")
    with pytest.raises(DataError, match="has no column 'churned'"):
        from kubetfx.components.monitor.quality import read_labels

        read_labels(str(path), "churned")


def test_too_few_rows_give_no_verdict(tmp_path):
    cfg, version = champion_setup(tmp_path, train_rows=500)
    write_hour(cfg, 1, 50, seed=5, version=version)
    result, markdown, _ = core.run(cfg=cfg, window=hour_window(1))
    assert result.verdict == "insufficient data" and not result.shifts
    assert "fewer than monitor.min_window_rows" in markdown


def test_a_window_reads_served_records_in_range_in_every_answer_shape(tmp_path):
    """[start, end) by `ts`, across day directories; shadow copies left out; TF Serving rows,
    columnar `outputs` and KServe V2 tensors all become one row per example."""
    day_end = datetime.datetime(2026, 11, 2, 23, 59, 59, tzinfo=datetime.UTC)
    base = {"model": "m", "version": 1, "role": "served", "features": [{"x": 1.0}]}
    row = [{"probabilities": [0.2, 0.8], "class_ids": 1, "classes": "b"}]
    columnar = {"probabilities": [[0.6, 0.4], [0.1, 0.9]], "classes": ["a", "b"]}
    v2 = [
        {"name": "probabilities", "shape": [1, 2], "datatype": "FP32", "data": [0.7, 0.3]},
        {"name": "classes", "shape": [1], "datatype": "BYTES", "data": ["a"]},
    ]
    records = [
        {**base, "ts": day_end.isoformat(), "request_id": "r1", "predictions": row},
        {
            **base,
            "ts": (day_end + datetime.timedelta(seconds=2)).isoformat(),
            "request_id": "r2",
            "features": [{"x": 2.0}, {"x": None}],
            "predictions": columnar,
        },
        {
            **base,
            "ts": day_end.isoformat(),
            "request_id": "r1",
            "role": "shadow",
            "predictions": row,
        },
        {**base, "ts": (day_end + HOUR).isoformat(), "request_id": "late", "predictions": v2},
        {**base, "ts": (day_end + HOUR / 2).isoformat(), "request_id": "r3", "predictions": v2},
    ]
    simulate.write(str(tmp_path), records)
    assert len(list(tmp_path.glob("m/*/requests-*.jsonl"))) == 2  # two day directories
    window = windows.Window(day_end, day_end + HOUR)
    frame = windows.load(str(tmp_path), "m", window)
    assert list(frame["request_id"]) == ["r1", "r2", "r2", "r3"]
    assert list(frame["index"]) == [0, 0, 1, 0]
    assert list(frame["prediction.class"]) == ["b", "a", "b", "a"]
    assert list(frame["prediction.probability_1"]) == [0.8, 0.4, 0.9, 0.3]
    assert frame["x"].isna().tolist() == [False, False, True, False]
    assert window.previous() == windows.Window(day_end - HOUR, day_end)
    assert windows.resolve("2h", None, "2026-11-02T03:00:00Z").length == 2 * HOUR


def test_a_dropped_feature_is_a_schema_anomaly_and_a_drift(tmp_path):
    cfg, version = champion_setup(tmp_path, train_rows=2000)
    write_hour(cfg, 0, 500, seed=7, version=version)
    write_hour(cfg, 1, 500, seed=8, drifts=["drop:device"], version=version)
    result, markdown, _ = core.run(cfg=cfg, window=hour_window(1))
    assert result.verdict == "drift"
    assert result.flagged == ["device (schema: Column dropped)"]
    assert not flagged_inputs(result)
    assert "Schema anomalies" in markdown


def test_the_baseline_comes_from_the_champion_recorded_artifacts_first(tmp_path):
    from kubetfx.components.monitor import baseline

    cfg, _ = champion_setup(tmp_path, train_rows=200)
    found = baseline.resolve(cfg)
    assert found.run == "run-1" and found.training_statistics.endswith("FeatureStats.pb")
    assert found.eval_metrics() == EVAL_METRICS and not found.notes
    # A newer champion whose pusher recorded its artifacts: those win over the history.
    evaluation = tmp_path / "run-2-evaluation"
    fileio.write_text(str(evaluation / "metrics.json"), json.dumps({"candidate": {"overall": {}}}))
    stats = str(tmp_path / "run-2-stats.pb")
    fileio.copy(found.training_statistics, stats)
    registry = ModelRegistry(cfg.push.registry, "churn")
    artifacts = {"evaluation": str(evaluation), "statistics": stats}
    version = registry.push(str(tmp_path / "model"), {"run": "run-2", "artifacts": artifacts})
    found = baseline.resolve(cfg)
    assert (found.version, found.run, found.training_statistics) == (version, "run-2", stats)
    assert found.evaluation_metrics == str(evaluation / "metrics.json")
    # Without any: skew is not measured, and the report says why.
    registry.push(str(tmp_path / "model"), {"run": "run-3"})
    found = baseline.resolve(cfg)
    assert found.training_statistics is None and "skew is not measured" in found.notes[0]
