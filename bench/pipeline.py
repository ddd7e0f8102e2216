"""Orchestration overhead: the training pipeline under kfp.local against the same step
functions called one after another in one fresh Python process (no kfp, no subprocess per
step).

Both runs use the same config and data, so the difference is what orchestration costs.
Part of it is a floor no step goes under: a kfp.local step that does nothing (a new
interpreter importing kfp's runtime, the executor, the artifact bookkeeping), timed as a
pipeline of empty steps. The rest, each step's overhead above that floor, is mostly what the
step imports again that the one process had imported already (the libraries' import times
are measured alone in a fresh interpreter) and the exit of a process that loaded them.

    .venv/bin/python -m bench.pipeline [--rows 1000000] [--repeats 3] [--rows-repeats 1]
    .venv/bin/python -m bench.pipeline --rows 0 --repeats 1   # quick: penguins once
"""
# No `from __future__ import annotations` here: kfp reads empty_step's signature types.

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from kfp.dsl import Artifact, Output

from bench.common import save, spread

# The libraries a kfp.local step imports again, in each step that uses them, where the
# direct run imports each once. (kfp is in the floor: a step imports only its runtime part.)
LIBRARIES = {
    "TensorFlow": "tensorflow",
    "TFDV": "tensorflow_data_validation",
    "tf.Transform + Beam": "tensorflow_transform.beam",
    "TFMA": "tensorflow_model_analysis",
}
FLOOR_STEPS = 5  # empty steps timed for the floor (the median is taken)
GOAL_ABOVE_FLOORS_S = 10.0  # issue 21: the steps' overhead above the floor, summed


def _config(data: str | None, label: str | None, root: str, epochs: int | None, **extra):
    from kubetfx.components.config_loader import load_config, localize

    return localize(
        load_config(
            None,
            {
                "pipeline_root": os.path.join(root, "pipeline_root"),
                "reference_root": os.path.join(root, "references"),
                "push.registry": os.path.join(root, "model_registry"),
                "data.path": data,
                "data.label": label,
                "train.epochs": epochs,
                **extra,
            },
        )
    )


def kfp_local(cfg, pipeline) -> dict:
    """`pipeline` as `kubetfx run` runs it: kfp.local, one subprocess per step. Seconds per
    step, each from the end of the step before (so it includes the step's process start)."""
    from kubetfx.runners import local

    started = time.perf_counter()
    result = local.run(cfg, pipeline, verbose=False)
    total = time.perf_counter() - started
    if not result.succeeded:
        sys.exit(f"kfp.local run failed: {result.error} (log {result.log_path})")
    return {"total": round(total, 2), "steps": {s.name: s.seconds or 0.0 for s in result.steps}}


def empty_step(done: Output[Artifact]) -> None:
    """A step that does nothing: what any kfp.local step costs at least."""


def floor_seconds(cfg) -> dict:
    """Seconds per step of FLOOR_STEPS empty steps run one after another under kfp.local, as
    `kubetfx run` runs a training step (the same runner and component options)."""
    from kfp import dsl

    component = dsl.component(base_image=cfg.images.components, install_kfp_package=False)
    empty = component(empty_step)

    @dsl.pipeline(name=cfg.pipeline_name)
    def empty_steps() -> None:
        previous = empty()
        for _ in range(FLOOR_STEPS - 1):
            previous = empty().after(previous)

    return spread(list(kfp_local(cfg, empty_steps)["steps"].values()))


def direct(cfg, root: str) -> dict:
    """The same component functions called in order in one fresh process. Seconds per step.

    A fresh process per run, so each run pays the imports once, as a script would.
    """
    from kubetfx.components import fileio
    from kubetfx.pipelines import training
    from kubetfx.runners.local import step_order

    config = os.path.join(root, "config.json")
    fileio.write_text(config, cfg.to_json())
    steps = step_order(training.build(cfg))
    argv = [sys.executable, "-m", "bench.stages", *steps, "--root", root + "/direct"]
    started = time.perf_counter()
    out = subprocess.run(
        [*argv, "--config", config], check=True, stdout=subprocess.PIPE, text=True, env=_quiet_env()
    )
    total = time.perf_counter() - started
    return {"total": round(total, 2), "steps": json.loads(out.stdout.strip().splitlines()[-1])}


def import_seconds(module: str, repeats: int = 3) -> float:
    """Seconds a fresh interpreter spends importing `module`: the median of `repeats`."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            env=_quiet_env(),
        )
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return sorted(runs)[len(runs) // 2]


def _quiet_env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def measure(
    name: str, data: str | None, label: str | None, repeats: int, epochs: int | None, **extra
):
    from kubetfx.pipelines import training

    kfp_runs, direct_runs = [], []
    for i in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as root:
            cfg = _config(data, label, root, epochs, **extra)
            print(f"{name}: kfp.local run {i + 1}/{repeats}", flush=True)
            kfp_runs.append(kfp_local(cfg, training.build(cfg)))
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as root:
            cfg = _config(data, label, root, epochs, **extra)
            print(f"{name}: direct run {i + 1}/{repeats}", flush=True)
            direct_runs.append(direct(cfg, root))
    k = spread([r["total"] for r in kfp_runs], 1)
    d = spread([r["total"] for r in direct_runs], 1)
    return {
        "data": name,
        "kfp_local_s": k,
        "direct_s": d,
        "overhead_s": round(k["median"] - d["median"], 1),
        "ratio": round(k["median"] / d["median"], 2),
        "steps": {  # median over the runs
            step: {
                key: round(statistics.median(r["steps"][step] for r in each), 2)
                for key, each in (("kfp_local", kfp_runs), ("direct", direct_runs))
            }
            for step in kfp_runs[0]["steps"]
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="generated rows (0: skip)")
    parser.add_argument("--repeats", type=int, default=1, help="runs on the default dataset")
    parser.add_argument("--rows-repeats", type=int, default=1, help="runs on generated rows")
    parser.add_argument("--epochs", type=int, default=1, help="train.epochs on generated rows")
    parser.add_argument(
        "--before", action="store_true", help="also time penguins with Beam always multi-process"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as root:
        print(f"floor: {FLOOR_STEPS} empty kfp.local steps", flush=True)
        floor = floor_seconds(_config(None, None, root, None))
    rows = runs(args)
    print("library imports, each in a fresh interpreter", flush=True)
    imports = {name: round(import_seconds(module), 2) for name, module in LIBRARIES.items()}
    breakdown = {"floor_s": floor, "import_s": imports}
    markdown = _markdown(rows, breakdown, args)
    print(markdown)
    save("orchestration", {"runs": rows, "breakdown": breakdown}, markdown)


def runs(args) -> list[dict]:
    from kubetfx.pipelines.generate import LABEL, write

    rows = [measure("penguins (default, 344 rows)", None, None, args.repeats, None)]
    if args.before:
        # Before the fix: every Beam step on the multi-processing DirectRunner, however small.
        before = {"beam.in_memory_below_mb": 0}
        rows.append(measure("penguins, Beam always multi-process", None, None, 1, None, **before))
    if args.rows:
        with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
            path = os.path.join(tmp, "churn.csv")
            write(path, args.rows, seed=0)
            rows.append(
                measure(
                    f"generated, {args.rows:,} rows", path, LABEL, args.rows_repeats, args.epochs
                )
            )
    return rows


def _markdown(rows: list[dict], breakdown: dict, args) -> str:
    lines = [
        "### Orchestration overhead (kfp.local against the stages called in one process)\n",
        f"Median (min–max) of the runs each row names; generated data trains "
        f"{args.epochs} epoch(s).\n",
        "| data | runs | kfp.local s | direct s | overhead s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        k, d = r["kfp_local_s"], r["direct_s"]
        lines.append(
            f"| {r['data']} | {k['repeats']} | {k['median']} ({k['min']}–{k['max']}) "
            f"| {d['median']} ({d['min']}–{d['max']}) | {r['overhead_s']} | {r['ratio']} |"
        )
    floor = breakdown["floor_s"]
    default = rows[0]
    lines += [
        "",
        f"Per step on {default['data']}: overhead = kfp.local − direct; above the floor = "
        f"overhead − {floor['median']} s, the time of a kfp.local step that does nothing "
        f"(median of {floor['repeats']} empty steps, {floor['min']}–{floor['max']} s). A "
        "kfp.local step's time runs from the previous step's end to its own, so it includes "
        "its process start (the first step's, kfp.local's start too); the direct run's total "
        "also has its process's start and imports, which no step's time holds.\n",
        "| step | kfp.local s | direct s | overhead s | above the floor s |",
        "|---|---|---|---|---|",
    ]
    totals = [0.0, 0.0, 0.0, 0.0]
    for step, s in default["steps"].items():
        overhead = s["kfp_local"] - s["direct"]
        cells = [s["kfp_local"], s["direct"], overhead, overhead - floor["median"]]
        totals = [t + c for t, c in zip(totals, cells, strict=True)]
        lines.append(f"| {step} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    lines.append("| **sum** | " + " | ".join(f"**{t:.1f}**" for t in totals) + " |")
    above, met = totals[3], totals[3] <= GOAL_ABOVE_FLOORS_S
    imports = breakdown["import_s"]
    lines += [
        "",
        f"Overhead above the floors: {above:.1f} s for {len(default['steps'])} steps, "
        f"{'within' if met else 'over'} the goal of {GOAL_ABOVE_FLOORS_S:g} s. What a step "
        "pays above the floor is mostly the libraries its work needs, imported again where "
        "the one process had them already (a fresh interpreter, median of 3): "
        + ", ".join(f"{name} {seconds} s" for name, seconds in imports.items())
        + ", and its process's exit once they are loaded.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
