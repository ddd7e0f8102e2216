"""Containers against the venv: the training pipeline on the same data run both ways (each
step in the venv as a subprocess, or in the component image through the Docker API), per
step and whole run, and what building the images costs.

    python -m bench.containers [--repeats 1]      # after `make e2e` (an engine, warm caches)

Build times: a rebuild with nothing changed (every layer cached), and a rebuild of every layer
with pip's cache mount warm (--no-cache: what a lock change costs at most). A first build on a
fresh machine downloads and compiles everything: `make e2e` records it in e2e_run/e2e.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import save

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
import e2e  # noqa: E402  (infra/e2e.py)
import images  # noqa: E402  (infra/images.py)


def _build(tag: str, *extra: str) -> float:
    started = time.monotonic()
    if images.main(["build", "--tag", tag, *extra]) != 0:
        raise SystemExit("the image build failed (see above)")
    return round(time.monotonic() - started, 1)


def _run(root: Path, runner: str, names: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Whole-run seconds and seconds per step of one training run under `root` (in containers,
    infra_validate serves the candidate in the server image; in the venv, from .venv-serving)."""
    from kubetfx.components.config import PipelineConfig
    from kubetfx.pipelines import training
    from kubetfx.runners import local

    e2e.run_dir(root)
    cfg = PipelineConfig.model_validate(
        {
            "pipeline_root": str(root),
            "reference_root": str(root / "references"),
            "runner": runner,
            "images": names,
            "push": {"registry": str(root / "model_registry")},
        }
    )
    started = time.monotonic()
    result = local.run(cfg, training.build(cfg))
    wall = round(time.monotonic() - started, 1)
    if not result.succeeded:
        raise SystemExit(f"the {runner} run failed: {result.error} (log {result.log_path})")
    return wall, {s.name: s.seconds for s in result.steps}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs each way")
    args = parser.parse_args(argv)
    try:
        engine = images.find_engine()
    except images.EngineError as e:
        print(f"bench.containers skipped: {e}")
        return
    tag = images.default_tag()
    print("Images: a rebuild with nothing changed, then every layer again (pip cache warm)")
    builds = {"cached": _build(tag), "no_cache": _build(tag, "--no-cache")}
    names = {k: images.local_name(engine, k, tag) for k in images.DOCKERFILES}
    sizes = e2e.image_sizes(engine, names)
    service = e2e.docker_api(engine)
    runs: dict[str, list] = {"subprocess": [], "docker": []}
    try:
        # The steps' files belong to the images' user: only root can always remove them.
        scratch = tempfile.TemporaryDirectory(
            prefix="kubetfx-bench-containers-", ignore_cleanup_errors=True
        )
        with scratch as tmp:
            for i in range(args.repeats):
                for runner in runs:
                    root = Path(tmp) / f"{runner}-{i}"
                    runs[runner].append(_run(root, runner, names))
                    print(f"  {runner} run {i + 1}: {runs[runner][-1][0]} s", flush=True)
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=30)
    median = {
        runner: (
            statistics.median(w for w, _ in results),
            {s: statistics.median(r[1][s] for r in results) for s in results[0][1]},
        )
        for runner, results in runs.items()
    }
    lines = [
        "| step | venv (subprocess) s | component image (docker) s | container ÷ venv |",
        "|---|---|---|---|",
    ]
    for step, venv in median["subprocess"][1].items():
        boxed = median["docker"][1][step]
        lines.append(f"| {step} | {venv:.1f} | {boxed:.1f} | {boxed / venv:.2f} |")
    (venv_wall, _), (boxed_wall, _) = median["subprocess"], median["docker"]
    lines.append(
        f"| **whole run** | {venv_wall:.1f} | {boxed_wall:.1f} | {boxed_wall / venv_wall:.2f} |"
    )
    markdown = (
        "### Containers (the training pipeline in the venv and in the component image)\n\n"
        f"Palmer Penguins, {engine}, median of {args.repeats} run(s) each way; a step's time "
        "includes starting its container.\n\n" + "\n".join(lines) + "\n\n"
        f"Image builds: {builds['cached']:.0f} s with nothing changed, "
        f"{builds['no_cache']:.0f} s for every layer again with pip's cache warm. Sizes: "
        + ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in sizes.items())
        + ".\n"
    )
    print(markdown, flush=True)
    save("containers", {"builds_s": builds, "image_bytes": sizes, "runs": runs}, markdown)


if __name__ == "__main__":
    main()
