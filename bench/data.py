"""Scaling of the data stages, statistics throughput, and the training input pipeline.

1. ingest, statistics, schema + validate and transform on N and 10×N generated rows
   (default 100,000 and 1,000,000), each stage in its own process, timed, with the peak
   memory of its whole process tree (Beam workers included) sampled from /proc. The Beam
   stages (statistics, transform) run on both DirectRunner set-ups the config chooses
   between, one process and 2 worker processes, so each ratio compares one runner at both
   sizes. A streaming pipeline should take about 10× the time and nearly the same memory.
2. Statistics throughput (rows/s) next to pandas reading the same CSV and describe().
3. Training input on the N-row run's transformed train split: examples/s and CPU per example
   of Keras fit fed by the train step's tf.data input (as configured, and streaming the
   TFRecords every pass) against the same batches already in memory (the input should not
   be the bottleneck), and each input alone. Timed: the last of --train-epochs full passes.

    .venv/bin/python -m bench.data [--rows 100000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from bench.common import save, spread

STEPS = {  # timed unit -> the stage functions it runs
    "ingest": ["ingest"],
    "statistics": ["statistics"],
    "validate": ["schema", "validate"],
    "transform": ["transform"],
}
BEAM_STEPS = ("statistics", "transform")  # the others do not run Beam
# The two DirectRunner set-ups the config chooses between by input size, forced here through
# that same setting (beam.in_memory_below_mb) so that a ratio compares one runner at both
# sizes: always one process, and always the default beam.pipeline_args (2 worker processes).
RUNNERS = {"one process": 2**40, "2 worker processes": 0}


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * page
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack += children.get(p, [])
    return total


def timed_process(argv: list[str], log: str | None = None) -> tuple[float, int]:
    """(seconds, peak tree memory in bytes) of a command run to completion; its output goes
    to the file `log` when given (the terminal otherwise)."""
    started = time.perf_counter()
    out = open(log, "a") if log else None  # noqa: SIM115 (closed below, after the wait)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=out)
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(proc.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if out:
        out.close()
    if code:
        where = f" (its output: {log})" if log else ""
        sys.exit(f"{' '.join(argv)} failed with exit code {code}{where}")
    return seconds, peak


def _config(data: str, root: str, in_memory_below_mb: float | None = None):
    from kubetfx.components.config_loader import load_config, localize
    from kubetfx.pipelines.generate import LABEL

    runner = {} if in_memory_below_mb is None else {"beam.in_memory_below_mb": in_memory_below_mb}
    return localize(
        load_config(
            None,
            {
                "data.path": data,
                "data.label": LABEL,
                "pipeline_root": os.path.join(root, "pipeline_root"),
                "reference_root": os.path.join(root, "references"),
                **runner,
            },
        )
    )


def stages(rows: int, tmp: str, repeats: int) -> tuple[dict, str, str]:
    """Time each data stage on `rows` generated rows, the Beam stages once per runner.

    Returns {'ingest' | 'validate' | 'statistics (runner)' | ...: summary}, the CSV and the
    artifact root of the first runner.
    """
    from kubetfx.components import fileio
    from kubetfx.pipelines.generate import write

    data = os.path.join(tmp, f"churn-{rows}.csv")
    write(data, rows, seed=0)
    measured: dict[str, dict] = {}
    for i in range(repeats):
        first = None
        for n, (runner, below_mb) in enumerate(RUNNERS.items()):
            root = os.path.join(tmp, f"stages-{rows}-{i}-{n}")
            config = os.path.join(tmp, f"config-{rows}-{n}.json")
            fileio.write_text(config, _config(data, root, below_mb).to_json())
            if first is None:  # ingest and validate do not run Beam: once, then shared
                first, units = root, list(STEPS)
            else:
                os.makedirs(root)
                for shared in ("ingest", "schema"):  # the steps that made them
                    os.symlink(os.path.join(first, shared), os.path.join(root, shared))
                units = list(BEAM_STEPS)
            for unit in units:
                argv = [sys.executable, "-m", "bench.stages", *STEPS[unit], "--root", root]
                seconds, peak = timed_process([*argv, "--config", config])
                key = f"{unit} ({runner})" if unit in BEAM_STEPS else unit
                into = measured.setdefault(key, {"seconds": [], "peak_mib": []})
                into["seconds"].append(seconds)
                into["peak_mib"].append(peak / 2**20)
                print(f"  {rows:,} rows: {key} {seconds:.1f} s, peak {peak / 2**20:.0f} MiB")
    summary = {
        name: {"seconds": spread(v["seconds"], 1), "peak_mib": spread(v["peak_mib"], 0)}
        for name, v in measured.items()
    }
    return summary, data, first


def pandas_reference(data: str, repeats: int) -> dict:
    import pandas as pd

    read, describe = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        frame = pd.read_csv(data)
        read.append(time.perf_counter() - t)
        t = time.perf_counter()
        frame.describe(include="all")
        describe.append(time.perf_counter() - t)
    return {"read_csv_s": spread(read, 2), "describe_s": spread(describe, 2), "rows": len(frame)}


def training_input(root: str, cfg, epochs: int, repeats: int) -> dict:
    """examples/s and CPU per example of Keras fit on the transformed train split under `root`:
    fed by train.core.dataset as the train step configures it (a split this small is held in
    memory), by the same input streaming the TFRecords on every pass (train.in_memory_below_mb
    0, what every split got before), and by the same batches already in memory (the ceiling);
    then each input alone.

    What is timed is what a real training run sees in steady state: the model trains `epochs`
    epochs of one full pass over the split each (the train step's default steps_per_epoch,
    with op determinism on as it runs) and the last epoch is timed, wall clock and this
    process's CPU time (the input's cost on a busy machine is the CPU it takes from the
    model). The three feeds are interleaved, `repeats` times, so background load hits each.
    """
    import tensorflow as tf
    import tensorflow_transform as tft
    import tf_keras as keras

    from kubetfx.components import fileio
    from kubetfx.components.train import core
    from kubetfx.components.train import model as default_model
    from kubetfx.components.transform.core import read_task

    graph = os.path.join(root, "transform", "transform_graph")
    examples = os.path.join(root, "transform", "transformed_examples")
    pattern = os.path.join(examples, "Split-train", "*")
    rows = json.loads(fileio.read_text(os.path.join(examples, "rows.json")))["train"]
    on_disk = sum(os.path.getsize(f) for f in tf.io.gfile.glob(pattern)) / 2**20
    task = read_task(graph)
    tft_output = tft.TFTransformOutput(graph)
    spec = tft_output.transformed_feature_spec()
    core._seed(cfg.train)  # the seed and op determinism, as the train step sets them
    batch = cfg.train.batch_size
    steps = -(-rows // batch)  # one pass: the train step's default steps_per_epoch

    def feed(below_mb: float):
        return core.dataset(pattern, spec, task.label, batch, True, cfg.train.seed, below_mb)

    streamed = feed(0)
    held = list(streamed.take(steps))  # one pass of batches, parsed, held as tensors
    feeds = {
        "default": lambda: feed(cfg.train.in_memory_below_mb),
        "streamed": lambda: streamed,
        "in_memory": lambda: (
            tf.data.Dataset.from_generator(
                lambda: iter(held), output_signature=streamed.element_spec
            )
            .cache()
            .repeat()
        ),
    }
    ctx = core.model_context(tft_output, task, cfg.train, cfg.transform)

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.started[0]
            self.cpu = time.process_time() - self.started[1]

    def fit(source) -> tuple[float, float]:
        timer = EpochTimer()
        model = default_model.build(ctx)
        model.fit(source, epochs=epochs, steps_per_epoch=steps, callbacks=[timer], verbose=0)
        return steps * batch / timer.seconds, timer.cpu * 1e6 / (steps * batch)

    def input_only(source) -> tuple[float, float]:
        batches = iter(source)

        @tf.function
        def one_pass():
            for _ in tf.range(steps):
                batches.get_next()

        for _ in range(epochs - 1):  # the passes before, as fit
            one_pass()
        started = time.perf_counter(), time.process_time()
        one_pass()
        seconds, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
        return steps * batch / seconds, cpu * 1e6 / (steps * batch)

    measured: dict[str, list] = {}
    for _ in range(repeats):
        for name, make in feeds.items():
            measured.setdefault(f"{name}_fit", []).append(fit(make()))
        for name in ("default", "streamed"):
            measured.setdefault(f"{name}_input_only", []).append(input_only(feeds[name]()))
    result = {
        "rows": rows,
        "mib_on_disk": round(on_disk, 1),
        "in_memory_below_mb": cfg.train.in_memory_below_mb,
        "batch_size": batch,
        "steps": steps,
        "epochs": epochs,
        **{
            name: {
                "examples_per_s": spread([m[0] for m in values], 0),
                "cpu_us_per_example": spread([m[1] for m in values], 1),
            }
            for name, values in measured.items()
        },
    }
    ceiling = result["in_memory_fit"]
    for name in ("default", "streamed"):
        fed = result[f"{name}_fit"]
        result[f"{name}_ratio"] = round(
            fed["examples_per_s"]["median"] / ceiling["examples_per_s"]["median"], 2
        )
        result[f"{name}_cpu_ratio"] = round(
            ceiling["cpu_us_per_example"]["median"] / fed["cpu_us_per_example"]["median"], 2
        )
    result["ratio"] = result["default_ratio"]
    return result


def _cell(stat: dict, digits: int = 1) -> str:
    return f"{stat['median']:.{digits}f} ({stat['min']:.{digits}f}–{stat['max']:.{digits}f})"


def _markdown(small: int, large: int, scaling: dict, stats: dict, train: dict, repeats) -> str:
    lines = [
        f"### Data stages: {small:,} against {large:,} generated rows\n",
        f"Each stage in its own process; median (min–max) of {repeats} repeat(s); peak memory "
        "of the stage's whole process tree (Beam workers included). The Beam stages run on "
        "each DirectRunner set-up at both sizes; the default config picks one process below "
        "`beam.in_memory_below_mb` of input (16 MiB by default) and 2 worker "
        "processes above it.\n",
        f"| stage | {small:,} rows s | {large:,} rows s | time ratio "
        f"| {small:,} peak MiB | {large:,} peak MiB | memory ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in scaling[small]:
        a, b = scaling[small][name], scaling[large][name]
        lines.append(
            f"| {name} | {_cell(a['seconds'])} | {_cell(b['seconds'])} "
            f"| {b['seconds']['median'] / a['seconds']['median']:.1f} "
            f"| {_cell(a['peak_mib'], 0)} | {_cell(b['peak_mib'], 0)} "
            f"| {b['peak_mib']['median'] / a['peak_mib']['median']:.2f} |"
        )
    lines += [
        "",
        f"### Statistics throughput ({large:,} rows)\n",
        "| what | seconds | rows/s |",
        "|---|---|---|",
    ]
    for name, seconds in stats["rows"]:
        lines.append(f"| {name} | {seconds:.2f} | {large / seconds:,.0f} |")
    t = train
    lines += [
        "",
        f"### Training input ({small:,} rows: a train split of {t['rows']:,}, "
        f"{t['mib_on_disk']} MiB on disk)\n",
        f"Keras fit of the default model in batches of {t['batch_size']}, {t['epochs']} epochs "
        f"of one full pass ({t['steps']} steps) with op determinism on, as the train step runs; "
        "the last epoch is timed: examples/s (wall clock) and this process's CPU time per "
        f"example. Median (min–max) of {t['default_fit']['examples_per_s']['repeats']} "
        "repeats, the feeds interleaved.\n",
        "| fed by | examples/s | CPU µs/example |",
        "|---|---|---|",
    ]
    rows = {
        "default_fit": "train.core.dataset as configured "
        f"(`train.in_memory_below_mb` {t['in_memory_below_mb']:g}: held in memory, parsed)",
        "streamed_fit": "train.core.dataset streaming the TFRecords every pass "
        "(`train.in_memory_below_mb` 0)",
        "in_memory_fit": "the same batches held in memory (the ceiling)",
        "default_input_only": "the input alone (no model), as configured",
        "streamed_input_only": "the input alone (no model), streaming",
    }
    for key, name in rows.items():
        cells = [_cell(t[key]["examples_per_s"], 0), _cell(t[key]["cpu_us_per_example"], 1)]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += [
        "",
        f"Fed as configured / in memory: {t['default_ratio']} in examples/s, "
        f"{t['default_cpu_ratio']} in CPU per example; streamed / in memory: "
        f"{t['streamed_ratio']} and {t['streamed_cpu_ratio']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="the small size; large is 10×")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--train-epochs", type=int, default=3, help="training input: full passes, last timed"
    )
    parser.add_argument("--train-repeats", type=int, default=3, help="training input repeats")
    args = parser.parse_args(argv)
    small, large = args.rows, args.rows * 10
    scaling, roots = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        for rows in (small, large):
            print(f"Data stages on {rows:,} rows", flush=True)
            scaling[rows], data, roots[rows] = stages(rows, tmp, args.repeats)
        pandas = pandas_reference(data, args.repeats)
        tfdv_s = {
            runner: scaling[large][f"statistics ({runner})"]["seconds"]["median"]
            for runner in RUNNERS
        }
        stats = {
            "tfdv_statistics_s": tfdv_s,
            "pandas": pandas,
            "rows": [
                *(
                    (f"TFDV statistics stage ({runner}; process start, Beam, all splits)", s)
                    for runner, s in tfdv_s.items()
                ),
                ("pandas read_csv", pandas["read_csv_s"]["median"]),
                ("pandas describe(include='all') in memory", pandas["describe_s"]["median"]),
            ],
        }
        print("Training input", flush=True)
        root = roots[small]  # the N-row split: a few full passes over it are timed
        train = training_input(root, _config(data, root), args.train_epochs, args.train_repeats)
    markdown = _markdown(small, large, scaling, stats, train, args.repeats)
    print(markdown)
    body = {
        "rows": [small, large],
        "stages": {str(k): v for k, v in scaling.items()},
        "statistics": stats,
        "training_input": train,
    }
    save("data", body, markdown)


if __name__ == "__main__":
    main()
