"""The whole training pipeline at 1,000,000 generated rows and, with BENCH_BIG=1, at 10,000,000.

Every step runs in its own process (`bench.stages`, the step functions without kfp) on the
default config, so both sizes use the same Beam runner (2 worker processes: both inputs are
far over `beam.in_memory_below_mb`). Each step is timed and the peak memory of its whole
process tree (Beam workers included) is sampled from /proc. A streaming pipeline takes about
10× the time at 10× the rows and the same memory: the goal is a peak ≤ 1.2× the 1M figure
for every step.

    .venv/bin/python -m bench.scale [--rows 1000000] [--big 10000000] [--epochs 1]

`make bench` runs the 1M size; `BENCH_BIG=1 make bench` adds 10M (about an hour on 2 cores;
the CSV and the artifacts need about 6 GB of disk in $TMPDIR).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from bench.common import save
from bench.data import timed_process

GOAL = 1.2  # peak memory at the big size over the 1M figure, per step


def run_steps(rows: int, tmp: str, epochs: int) -> dict[str, dict]:
    """{step: {'seconds', 'peak_mib'}} of one run of the pipeline on `rows` generated rows."""
    from kubetfx.components import fileio
    from kubetfx.components.config_loader import load_config, localize
    from kubetfx.pipelines.generate import LABEL, write
    from kubetfx.runners.in_process import training_steps

    data = os.path.join(tmp, f"churn-{rows}.csv")
    started = time.perf_counter()
    write(data, rows, seed=0)
    print(f"{rows:,} rows: generated in {time.perf_counter() - started:.0f} s", flush=True)
    root = os.path.join(tmp, f"run-{rows}")
    overrides = {
        "data.path": data,
        "data.label": LABEL,
        "train.epochs": epochs,
        "pipeline_root": os.path.join(tmp, f"pipeline_root-{rows}"),
        "reference_root": os.path.join(tmp, f"references-{rows}"),
        "push.registry": os.path.join(tmp, f"registry-{rows}"),
    }
    cfg = localize(load_config(None, overrides))
    config = os.path.join(tmp, f"config-{rows}.json")
    fileio.write_text(config, cfg.to_json())
    os.makedirs(root)
    measured = {}
    for step in training_steps(cfg, root).order:
        argv = [sys.executable, "-m", "bench.stages", step, "--root", root, "--config", config]
        seconds, peak = timed_process(argv, os.path.join(tmp, f"steps-{rows}.log"))
        measured[step] = {"seconds": round(seconds, 1), "peak_mib": round(peak / 2**20)}
        print(f"{rows:,} rows: {step} {seconds:.1f} s, peak {peak / 2**20:.0f} MiB", flush=True)
    os.remove(data)  # the artifacts stay until the temporary directory goes
    return measured


def _markdown(sizes: list[int], runs: dict[int, dict], epochs: int) -> str:
    small = sizes[0]
    head = [f"{n:,} rows s" for n in sizes] + [f"{n:,} rows peak MiB" for n in sizes]
    ratios = [] if len(sizes) == 1 else ["time ratio", "memory ratio"]
    lines = [
        f"### The pipeline at scale ({' and '.join(f'{n:,}' for n in sizes)} generated rows)\n",
        f"Each step in its own process on the default config ({epochs} training epoch(s)); "
        "peak memory of the step's whole process tree (Beam workers included); one run "
        "per size.\n",
        "| step | " + " | ".join(head + ratios) + " |",
        "|---|" + "---|" * (len(head) + len(ratios)),
    ]
    for step in runs[small]:
        row = [runs[n][step] for n in sizes]
        cells = [f"{r['seconds']}" for r in row] + [f"{r['peak_mib']}" for r in row]
        if ratios:
            a, b = row[0], row[-1]
            cells += [
                f"{b['seconds'] / max(a['seconds'], 0.1):.1f}",
                f"{b['peak_mib'] / a['peak_mib']:.2f}",
            ]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    totals = [sum(r["seconds"] for r in runs[n].values()) for n in sizes]
    lines.append(
        "| **all steps** | "
        + " | ".join(f"{t:.0f}" for t in totals)
        + " |" * (len(sizes) + 1)
        + (f" {totals[-1] / totals[0]:.1f} | |" if ratios else "")
    )
    if ratios:
        worst = max(
            runs[n][s]["peak_mib"] / runs[small][s]["peak_mib"] for n in sizes for s in runs[n]
        )
        verdict = "met" if worst <= GOAL else "NOT met"
        lines += ["", f"Largest memory ratio {worst:.2f} (goal ≤ {GOAL}: {verdict})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    big = 10_000_000 if os.environ.get("BENCH_BIG") == "1" else 0
    parser.add_argument("--big", type=int, default=big, help="the large size (0: skip)")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sizes = [args.rows] + ([args.big] if args.big else [])
    runs = {}
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            runs[rows] = run_steps(rows, tmp, args.epochs)
    markdown = _markdown(sizes, runs, args.epochs)
    print(markdown)
    save("scale", {"sizes": sizes, "epochs": args.epochs, "steps": runs}, markdown)


if __name__ == "__main__":
    main()
