"""The tune step on the default dataset: how long a local search takes, and whether the model
train builds from its best values is at least as good on the eval split as the untuned one.

Two in-process runs of the training pipeline (kubetfx.runners.in_process) in one temporary
directory: one with the defaults, one with tune.enabled (the default search: Bayesian, 8
trials plus the untuned config). Reported: the tune step's seconds, its trials, the best and
untuned objective (val_loss), and each run's eval accuracy and loss as evaluate measured them.

    .venv/bin/python -m bench.tune
"""

from __future__ import annotations

import json
import os
import tempfile

from bench.common import save


def _run(root: str, tune: bool) -> dict:
    from kubetfx.components import fileio
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.contracts import METRICS_FILE
    from kubetfx.components.train import tuning
    from kubetfx.runners import in_process

    name = "tuned" if tune else "untuned"
    cfg = PipelineConfig.model_validate(
        {
            "pipeline_root": os.path.join(root, name, "pipeline_root"),
            "reference_root": os.path.join(root, name, "references"),
            "push": {"registry": os.path.join(root, name, "registry")},
            "tune": {"enabled": tune},
            "beam": {"pipeline_args": ["--runner=DirectRunner", "--direct_running_mode=in_memory"]},
        }
    )
    result = in_process.run(cfg)
    if not result.succeeded:
        raise SystemExit(f"the {name} run failed: {result.error}")
    seconds = {s.name: round(s.seconds or 0.0, 1) for s in result.steps}
    evaluation = result.step("evaluate").artifacts["evaluation"]["uri"]
    overall = json.loads(fileio.read_text(fileio.join(evaluation, METRICS_FILE)))["candidate"]
    out = {"seconds": seconds, "accuracy": overall["overall"].get("accuracy")}
    if tune:
        search = tuning.read(result.step("tune").artifacts["best_hyperparameters"]["uri"])
        out |= {
            "trials": len(search.trials),
            "best": search.best.objective,
            "untuned": search.untuned.objective,
            "best_values": search.best.values,
        }
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kubetfx-bench-tune-") as root:
        plain, tuned = _run(root, tune=False), _run(root, tune=True)
    markdown = "\n".join(
        [
            "### Tuning (the default search on penguins, 2 in-process runs)",
            "",
            "| | tune step | trials | val_loss (best / untuned) | eval accuracy |",
            "|---|---|---|---|---|",
            f"| untuned run | - | - | - | {plain['accuracy']:.4f} |",
            f"| tuned run | {tuned['seconds']['tune']:.0f} s | {tuned['trials']} | "
            f"{tuned['best']:.4g} / {tuned['untuned']:.4g} | {tuned['accuracy']:.4f} |",
            "",
            f"Best values: `{json.dumps(tuned['best_values'])}`.",
        ]
    )
    save("Tuning", {"untuned": plain, "tuned": tuned}, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
