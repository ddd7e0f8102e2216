"""The training pipeline run end to end with kfp.local, as a user runs it (the CLI)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from kubetfx.components.registry import ModelRegistry
from tests.conftest import FAST_BEAM, write_csv

pytestmark = pytest.mark.pipeline
STEPS = (
    "baseline",  # the champion and reference schema the run imports
    "ingest",
    "statistics",
    "schema",
    "validate",
    "transform",
    "train",
    "evaluate",
    "infra-validate",  # KFP task names use dashes
    "push",
)


def kubetfx(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "kubetfx.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def run_dirs(root) -> list[str]:
    return sorted(glob.glob(os.path.join(root, "pipeline_root", "kubetfx-training-*")))


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """`kubetfx run` with every default (Beam multi-processing): the `make run` path."""
    workdir = tmp_path_factory.mktemp("work")
    done = kubetfx("run", cwd=workdir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = run_dirs(workdir)
    return workdir, run_dir, done


def test_default_run_succeeds_and_summarizes(good_run):
    _, run_dir, done = good_run
    assert f"Run {os.path.basename(run_dir)}: SUCCEEDED" in done.stdout
    for step in STEPS:
        assert any(line.split()[:2] == [step, "SUCCEEDED"] for line in done.stdout.splitlines())
    assert "train" in done.stdout and "rows" in done.stdout and "source: inferred" in done.stdout
    # Progress per step while the run goes, in order.
    for index, step in enumerate(STEPS, start=1):
        assert f"[{index}/{len(STEPS)}] {step}: running" in done.stdout
        assert f"[{index}/{len(STEPS)}] {step}: SUCCESS" in done.stdout


def test_default_run_leaves_the_artifacts(good_run):
    workdir, run_dir, _ = good_run
    for split in ("train", "eval"):
        assert glob.glob(f"{run_dir}/ingest/examples/Split-{split}/data_tfrecord-*.gz")
        assert os.path.getsize(f"{run_dir}/statistics/statistics/Split-{split}/FeatureStats.pb")
        assert os.path.exists(f"{run_dir}/validate/anomalies/Split-{split}/SchemaDiff.pb")
    assert "<svg" in Path(f"{run_dir}/statistics/view").read_text()
    assert 'name: "species"' in Path(f"{run_dir}/schema/schema/schema.pbtxt").read_text()
    assert Path(f"{run_dir}/validate/report").read_text().startswith("# Data validation: PASSED")
    assert os.path.getsize(f"{run_dir}/run.log")
    assert os.path.exists(workdir / "references" / "penguins" / "schema.pbtxt")
    assert os.path.exists(f"{run_dir}/transform/transform_graph/transform_fn/saved_model.pb")
    assert os.path.exists(f"{run_dir}/train/model/saved_model.pb")
    assert glob.glob(f"{run_dir}/train/model_run/**/events.out.tfevents.*", recursive=True)
    assert os.path.exists(f"{run_dir}/evaluate/blessing/BLESSED")
    assert os.path.exists(f"{run_dir}/infra-validate/infra_blessing/INFRA_BLESSED")
    assert os.path.exists(f"{run_dir}/train/model/assets.extra/serving_schema.json")
    assert "Metrics by slice" in Path(f"{run_dir}/evaluate/report").read_text()


def test_first_run_is_blessed_and_pushed_as_champion(good_run):
    workdir, run_dir, done = good_run
    overall = next(line for line in done.stdout.splitlines() if line.startswith("Evaluation"))
    accuracy = float(overall.split("accuracy ")[1].split()[0])
    assert accuracy >= 0.9
    assert "island=Biscoe" in done.stdout  # per-slice metrics
    assert "Blessing: BLESSED" in done.stdout and "no champion yet" in done.stdout
    registry = ModelRegistry(str(workdir / "model_registry"), "penguins")
    (version,) = registry.versions()
    assert "Infra validation: INFRA_BLESSED" in done.stdout
    assert f"Pushed: version {version}" in done.stdout and "(now the champion)" in done.stdout
    assert registry.champion()["version"] == version
    assert any("answers match" in r for r in registry.metadata(version)["infra_blessing"])
    assert registry.metadata(version)["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-3)
    # The version carries warmup requests (TF Serving's file) for the server to replay.
    warmup = Path(registry.version_dir(version), "assets.extra", "tf_serving_warmup_requests")
    assert warmup.stat().st_size > 0
    # ... and its model card, which the push step's HTML artifact shows in the Kubeflow UI.
    page = Path(registry.card_path(version, "html")).read_text()
    assert Path(run_dir, "push", "model_card").read_text() == page and str(version) in page


def test_second_run_is_compared_with_the_champion(good_run):
    workdir, _, _ = good_run
    registry = ModelRegistry(str(workdir / "model_registry"), "penguins")
    champion = registry.champion()
    beam = [f"--beam-arg={arg}" for arg in FAST_BEAM]  # the default runner ran in good_run
    done = kubetfx("run", *beam, cwd=workdir)
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"compared with champion {champion['path']}" in done.stdout
    assert "champion (overall)" in done.stdout
    # Same data, config and seed: training is deterministic, so it is the same model (TF's
    # fingerprint and the vocabularies): blessed, but neither pushed nor deployed again.
    assert "Blessing: BLESSED" in done.stdout
    assert f"Not pushed: the same model as version {champion['version']}" in done.stdout
    assert registry.versions() == [champion["version"]]
    assert registry.champion() == champion


def test_two_runs_are_compared_and_a_metric_is_charted_over_the_runs(good_run):
    """After the second run: `kubetfx runs compare` shows what differs (the Beam flags it was
    given), the same data and metrics, and both outcomes; `runs history` marks the champion."""
    workdir, first, _ = good_run
    runs = [os.path.basename(p) for p in run_dirs(workdir)]
    assert runs[0] == os.path.basename(first) and len(runs) >= 2
    done = kubetfx("runs", "compare", runs[0], runs[1], cwd=workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    changed = next(line for line in out.splitlines() if "beam.pipeline_args: [" in line)
    assert "multi_processing" in changed.split("->")[0]  # the first run: Beam's defaults
    assert "direct_running_mode=in_memory" in changed.split("->")[1]
    fingerprints = [line.split("fingerprint ")[1].split(";")[0] for line in out.splitlines()
                    if "fingerprint " in line]  # fmt: skip
    assert len(fingerprints) == 2 and len(set(fingerprints)) == 1  # the same data
    overall = next(line for line in out.splitlines() if line.split()[:2] == ["overall", "accuracy"])
    assert overall.split()[-1] == "0"  # the same model: no change
    assert "(champion)" in out and "not pushed: the same model as version" in out
    as_json = json.loads(
        kubetfx("runs", "compare", runs[0], runs[1], "-o", "json", cwd=workdir).stdout
    )
    assert {r["key"] for r in as_json["config"]} == {"beam.pipeline_args"}

    chart = workdir / "history.html"
    done = kubetfx("runs", "history", "--metric", "accuracy", "--html", str(chart), cwd=workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["RUN", "STATE", "ACCURACY"]
    first_row = next(line for line in lines if line.startswith(runs[0]))
    assert first_row.endswith("<- champion") and sum("<- champion" in x for x in lines) == 1
    page = chart.read_text()
    assert page.count("<circle") >= len(runs) + 1 and "<script" not in page
    assert 'width="900"' in page


def test_a_run_is_reproduced_with_its_recorded_config(good_run):
    """`kubetfx run --reproduce RUN` reruns the second run (its Beam flags came from its
    recorded config, not from this command) and checks the new model's predictions."""
    workdir, _, _ = good_run
    second = os.path.basename(run_dirs(workdir)[1])
    before = run_dirs(workdir)
    done = kubetfx("run", "--reproduce", second, cwd=workdir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (new,) = sorted(set(run_dirs(workdir)) - set(before))
    recorded = json.loads(Path(new, "config.json").read_text())
    assert recorded == json.loads(Path(workdir, "pipeline_root", second, "config.json").read_text())
    assert f"Reproduced {second}: the new model's predictions equal the recorded model's" in (
        done.stdout
    )
    assert "over 108 eval examples" in done.stdout


def test_in_process_run_is_the_same_pipeline(good_run):
    """`kubetfx run --in-process` (one process, no kfp.local) runs the same steps in the same
    order, writes the same artifacts with the same metadata keys, and is compared with the
    champion like any later run."""
    workdir, kfp_dir, _ = good_run
    registry = ModelRegistry(str(workdir / "model_registry"), "penguins")
    before = len(registry.versions())
    beam = [f"--beam-arg={arg}" for arg in FAST_BEAM]
    done = kubetfx("run", "--in-process", *beam, cwd=workdir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for index, step in enumerate(STEPS, start=1):
        assert f"[{index}/{len(STEPS)}] {step}: SUCCESS" in done.stdout
    assert "compared with champion" in done.stdout
    in_process_dir = max(run_dirs(workdir), key=os.path.getmtime)
    assert in_process_dir != kfp_dir

    def outputs(run_dir):
        found = {}
        for step in STEPS:
            body = json.loads(Path(run_dir, step, "executor_output.json").read_text())
            for name, entry in body["artifacts"].items():
                (artifact,) = entry["artifacts"]
                assert artifact["uri"] == os.path.join(run_dir, step, name)
                found[(step, name)] = sorted(artifact.get("metadata", {}))
        return found

    assert outputs(in_process_dir) == outputs(kfp_dir)
    # It trained the same model as the kfp.local runs: nothing new to push.
    assert "Not pushed: the same model as version" in done.stdout
    assert len(registry.versions()) == before


def _mutate(table: pa.Table, case: str) -> pa.Table:
    if case == "type change":
        text = pc.binary_join_element_wise(table["bill_length_mm"].cast(pa.string()), "mm", "")
        return table.set_column(
            table.schema.get_field_index("bill_length_mm"), "bill_length_mm", text
        )
    if case == "new category":
        island = pa.array(
            ["Atlantis" if i % 3 == 0 else v for i, v in enumerate(table["island"].to_pylist())]
        )
        return table.set_column(table.schema.get_field_index("island"), "island", island)
    if case == "missing column":
        return table.drop(["sex"])
    if case == "flood of missing values":
        mass = pa.array(
            [None if i % 2 else v for i, v in enumerate(table["body_mass_g"].to_pylist())],
            pa.int64(),
        )
        return table.set_column(table.schema.get_field_index("body_mass_g"), "body_mass_g", mass)
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "feature", "runner"),
    [
        ("type change", "bill_length_mm", []),
        ("new category", "island", []),
        ("missing column", "sex", []),
        ("flood of missing values", "body_mass_g", []),
        ("new category", "island", ["--in-process"]),
    ],
)
def test_bad_data_fails_at_validate_and_loses_nothing(
    good_run, penguins_table, case, feature, runner
):
    workdir, good_dir, _ = good_run
    reference = workdir / "references" / "penguins"
    champion = ModelRegistry(str(workdir / "model_registry"), "penguins").champion()
    before = {p: Path(p).read_bytes() for p in glob.glob(f"{reference}/**/*.pb*", recursive=True)}
    kept = sorted(glob.glob(f"{good_dir}/**", recursive=True))
    bad_csv = write_csv(_mutate(penguins_table, case), workdir / f"{case.replace(' ', '_')}.csv")
    beam = [f"--beam-arg={arg}" for arg in FAST_BEAM]
    done = kubetfx(
        "run", "--data", bad_csv, "--label", "species", "--name", "penguins", *beam, *runner,
        cwd=workdir,
    )  # fmt: skip

    assert done.returncode == 1, done.stdout[-2000:]
    failed = (
        "step 'validate' failed: ValidationFailed" if runner else "Inner task failed: 'validate'"
    )
    assert failed in done.stdout
    assert any(line.split()[:2] == ["validate", "FAILED"] for line in done.stdout.splitlines())
    assert f"train: {feature}:" in done.stdout  # the summary names the feature
    assert "source: reference" in done.stdout  # validated against the reference schema
    bad_dir = max(run_dirs(workdir), key=os.path.getmtime)
    report = Path(f"{bad_dir}/validate/report").read_text()
    assert report.startswith("# Data validation: FAILED") and f"**{feature}**" in report
    # Nothing upstream is deleted: this run's earlier artifacts and the good run survive,
    # and the reference schema and statistics are untouched.
    assert glob.glob(f"{bad_dir}/ingest/examples/Split-train/*.gz")
    assert os.path.exists(f"{bad_dir}/statistics/statistics/Split-train/FeatureStats.pb")
    assert sorted(glob.glob(f"{good_dir}/**", recursive=True)) == kept
    assert {p: Path(p).read_bytes() for p in before} == before
    for step in ("transform", "train", "evaluate", "push"):
        assert any(line.split()[:3] == [step, "NOT", "RUN"] for line in done.stdout.splitlines())
    assert ModelRegistry(str(workdir / "model_registry"), "penguins").champion() == champion


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "--data", "missing.csv", "--label", "y"], "data.path: no file matches"),
        (["run", "--data", "x.csv"], "data.label is required"),
        (["compile", "--pipeline", "nope", "--output", "x.yaml"], "invalid choice: 'nope'"),
        (["run", "--config", "missing.yaml"], "--config: file 'missing.yaml' does not exist"),
    ],
)
def test_bad_flags_exit_2_without_a_traceback(tmp_path, args, message):
    done = kubetfx(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
