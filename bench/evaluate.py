"""The evaluate step (TFMA) before and after each change that made it faster, on one prepared
run: the same eval split, the same candidate model, one process per variant.

The data is generated (default 1,000,000 rows), then ingest ... train run once; each variant
runs the evaluate step alone, timed, against links to those artifacts. Every variant must
report the same metrics: the table gives the largest difference from the first variant over
every metric of every slice (AUC within its histogram's resolution, the rest exactly).

    .venv/bin/python -m bench.evaluate [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from bench.common import save
from bench.data import timed_process

PREPARE = ("baseline", "ingest", "statistics", "schema", "validate", "transform", "train")
# name -> (what it adds, evaluate.confidence_intervals, the earlier code it puts back: PATCHES).
# Each row adds one change to the row above; the jackknife rows compare the default's cost.
BEFORE = ("auc_10k", "own_combiners", "tfma_accumulators", "all_extracts")
VARIANTS = {
    "before": ("as issue 21 found it", "off", BEFORE),
    "AUC thresholds": ("AUC on the confusion-matrix plot's 1,000 thresholds", "off", BEFORE[1:]),
    "derived metrics": ("calibration, accuracy read off shared accumulators", "off", BEFORE[2:]),
    "fast accumulators": ("histogram and matrix filled on a fast path", "off", BEFORE[3:]),
    "lean extracts": ("raw records and features dropped after slicing", "off", ()),
    "jackknife, before": (
        "jackknife intervals (the default since issue 20), before",
        "jackknife",
        BEFORE,
    ),
    "jackknife, now": (
        "jackknife intervals, with every change above (as shipped)",
        "jackknife",
        (),
    ),
}
# What evaluate asked TFMA for before each change (kubetfx/components/evaluate/core.py).
OLD_METRICS = {
    "HistogramCalibration": "Calibration",
    "ConfusionMatrixAccuracy": "SparseCategoricalAccuracy",
}
TFMA_OWN = ("AUC", "ConfusionMatrixPlot", "CalibrationPlot", "MultiClassConfusionMatrixPlot")
FAST = {f"Fast{name}": name for name in TFMA_OWN}


def earlier(patches) -> None:
    """Put back, in this process, the evaluate code `patches` name (keys of PATCHES)."""
    from kubetfx.components.evaluate import core, metrics

    shipped = core.eval_config
    rewrites = [PATCHES[p] for p in patches if p in PATCHES]

    def eval_config(*args, **kwargs):
        config = shipped(*args, **kwargs)
        for spec in config.metrics_specs:
            for metric in spec.metrics:
                for rewrite in rewrites:
                    rewrite(metric)
        return config

    def extractors(models, config):  # TFMA's defaults, every extract kept whole
        import tensorflow_model_analysis as tfma

        return tfma.default_extractors(eval_shared_model=models, eval_config=config)

    core.eval_config = eval_config
    if "all_extracts" in patches:
        core.extractors = extractors
    if "tfma_accumulators" in patches:  # TFMA's own combiners for the derived metrics too
        metrics._fast = lambda computations: computations


def _auc_10k(metric) -> None:
    """AUC on TFMA's default 10,000 thresholds."""
    if metric.class_name in ("AUC", "FastAUC"):
        metric.config = "{}"


def _own_combiners(metric) -> None:
    """Calibration and accuracy as TFMA's own metrics, each with its per-example combiner."""
    if metric.class_name in OLD_METRICS:
        metric.class_name, metric.module = OLD_METRICS[metric.class_name], ""


def _tfma_accumulators(metric) -> None:
    """TFMA's own classes for the metrics whose accumulators evaluate fills on a fast path."""
    if metric.class_name in FAST:
        metric.class_name, metric.module = FAST[metric.class_name], ""


PATCHES = {
    "auc_10k": _auc_10k,
    "own_combiners": _own_combiners,
    "tfma_accumulators": _tfma_accumulators,
}


def _config(data: str, root: str, intervals: str) -> str:
    from kubetfx.components import fileio
    from kubetfx.components.config_loader import load_config, localize
    from kubetfx.pipelines.generate import LABEL

    cfg = localize(
        load_config(
            None,
            {
                "data.path": data,
                "data.label": LABEL,
                "train.epochs": 1,
                "evaluate.confidence_intervals": intervals,
                "pipeline_root": os.path.join(root, "pipeline_root"),
                "reference_root": os.path.join(root, "references"),
                "push.registry": os.path.join(root, "registry"),
            },
        )
    )
    path = os.path.join(root, f"config-{intervals}.json")
    fileio.write_text(path, cfg.to_json())
    return path


def _flat(metrics: dict) -> dict[tuple[str, str], float]:
    return {
        (slice_name, name): value
        for slice_name, values in metrics["candidate"].items()
        for name, value in values.items()
    }


def compare(reference: dict, other: dict) -> dict:
    """Largest |difference| between two metrics.json, AUC apart; raises if a metric is missing."""
    a, b = _flat(reference), _flat(other)
    if a.keys() != b.keys():
        raise SystemExit(f"the variants report different metrics: {sorted(a.keys() ^ b.keys())}")
    auc = [abs(a[k] - b[k]) for k in a if k[1].startswith("auc")]
    rest = [abs(a[k] - b[k]) for k in a if not k[1].startswith("auc")]
    return {"metrics": len(a), "auc_max_diff": max(auc, default=0.0), "other_max_diff": max(rest)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one, in-process
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:  # the child process: apply the variant's code, run the step
        from bench import stages

        earlier(VARIANTS[args.variant][2])
        stages.main(["evaluate", "--root", args.root, "--config", args.config])
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kubetfx.pipelines.generate import write

    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        log = os.path.join(tmp, "steps.log")
        data = os.path.join(tmp, "churn.csv")
        write(data, args.rows, seed=0)
        prepared = os.path.join(tmp, "prepared")
        config = _config(data, tmp, "off")
        print(f"{args.rows:,} rows: {', '.join(PREPARE)}", flush=True)
        argv = [sys.executable, "-m", "bench.stages", *PREPARE, "--root", prepared]
        timed_process([*argv, "--config", config], log)
        eval_rows = _eval_rows(prepared)
        measured, reference = {}, None
        for name in args.variants:
            intervals = VARIANTS[name][1]
            root = os.path.join(tmp, f"variant-{name.replace(' ', '-').replace(',', '')}")
            os.makedirs(root)
            for step in PREPARE:
                os.symlink(os.path.join(prepared, step), os.path.join(root, step))
            child = [sys.executable, "-m", "bench.evaluate", "--variant", name, "--root", root]
            seconds, peak = timed_process([*child, "--config", _config(data, tmp, intervals)], log)
            with open(os.path.join(root, "evaluate", "evaluation", "metrics.json")) as f:
                metrics = json.load(f)
            measured[name] = {
                "seconds": round(seconds, 1),
                "peak_mib": round(peak / 2**20),
                "same_as_first": None if reference is None else compare(reference, metrics),
            }
            reference = reference or metrics
            print(f"  evaluate, {name}: {seconds:.1f} s, peak {peak / 2**20:.0f} MiB", flush=True)
    markdown = _markdown(args.rows, eval_rows, measured)
    print(markdown)
    save("evaluate", {"rows": args.rows, "eval_rows": eval_rows, "variants": measured}, markdown)


def _eval_rows(root: str) -> int:
    from kubetfx.components.contracts import read_ingest

    return read_ingest(os.path.join(root, "ingest", "examples")).rows["eval"]


def _markdown(rows: int, eval_rows: int, measured: dict) -> str:
    lines = [
        f"### Evaluate (TFMA) before and after, {rows:,} generated rows "
        f"({eval_rows:,} in the eval split)\n",
        "The evaluate step alone, one process per variant, on the same eval split and model, on "
        "the Beam runner the default config picks for its size; peak memory of its process "
        "tree. Each row has every change of the rows above it in bench/evaluate.py's list "
        "(a run may skip rows). Speed-up against the first row with the same intervals "
        "setting; Δ against the first row's metrics, over every metric of every slice.\n",
        "| variant | what | intervals | s | speed-up | peak MiB | AUC max Δ | other max Δ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    firsts: dict[str, float] = {}
    for name, m in measured.items():
        what, intervals, _ = VARIANTS[name]
        first = firsts.setdefault(intervals, m["seconds"])
        same = m["same_as_first"]
        auc, other = ("-", "-") if same is None else (same["auc_max_diff"], same["other_max_diff"])
        lines.append(
            f"| {name} | {what} | {intervals} | {m['seconds']} | {first / m['seconds']:.2f}× "
            f"| {m['peak_mib']} | {auc if auc == '-' else f'{auc:.1e}'} "
            f"| {other if other == '-' else f'{other:.1e}'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
