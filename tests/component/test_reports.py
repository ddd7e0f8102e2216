"""Every HTML page a run writes, opened in a real headless Chromium (offline) at a 1,000 px
window: it renders without script or resource errors, loads nothing from outside, has no
horizontal overflow, and shows the figures it promises.

The pages come from the real cores on the shared penguins model (tests/conftest.py): the
statistics view, validate's report (Markdown, which the Kubeflow UI renders: rendered here
with markdown-it), evaluate's report, monitoring's HTML view and Markdown report, and
`kubetfx runs history --html`. Chromium is installed from Debian's packages by
infra/browser.sh when missing (Debian as root); elsewhere these tests skip, saying so.
"""

from __future__ import annotations

import os
import time

import pytest

from kubetfx.components.config import ValidateConfig
from kubetfx.components.reference import ReferenceStore
from tests import browser
from tests.conftest import FAST_BEAM

PAGES = ("statistics", "validate", "evaluate", "monitor", "monitor_markdown", "history", "tune")


def _markdown_page(text: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(text)
    return f'<!doctype html><html><head><meta charset="utf-8"></head><body>{body}</body></html>'


@pytest.fixture(scope="module")
def chromium():
    found = browser.chromium()
    if not found:
        pytest.skip(
            "no Chromium: not on PATH, and infra/browser.sh could not install it (it needs "
            "Debian's apt-get as root); install chromium or set KUBETFX_CHROMIUM"
        )
    return found


@pytest.fixture(scope="module")
def reports(penguins, tmp_path_factory):
    """({page name: HTML}, the directory the cores wrote into)."""
    from kubetfx.components.evaluate import core as evaluate
    from kubetfx.components.monitor import core as monitor
    from kubetfx.components.statistics import core as statistics
    from kubetfx.components.train import tuning
    from kubetfx.components.transform import core as transform
    from kubetfx.components.validate import core as validate
    from kubetfx.runners.experiments import chart_html
    from tests.component.test_monitor import champion_setup, hour_window, write_hour

    cfg, paths = penguins
    out = tmp_path_factory.mktemp("reports")
    found = {
        "statistics": statistics.render_html(
            stats_by_split={s: statistics.stats_path(paths["stats"], s) for s in ("train", "eval")},
            title="Statistics: penguins",
        )
    }
    validate.run(
        stats_uri=paths["stats"],
        schema_path=os.path.join(paths["schema"], "schema.pbtxt"),
        splits=["train", "eval"],
        label=cfg.data.label,
        cfg=ValidateConfig(),
        reference=ReferenceStore(str(out / "refs"), "penguins"),
        run_name="run-reports",
        output_uri=str(out / "anomalies"),
        report_path=str(out / "validate.md"),
    )
    found["validate"] = _markdown_page((out / "validate.md").read_text())
    started = time.monotonic()
    evaluate.run(
        examples_uri=paths["examples"],
        model_dir=paths["model"],
        baseline_dir=None,
        task=transform.read_task(paths["graph"]),
        schema_path=os.path.join(paths["schema"], "schema.pbtxt"),
        cfg=cfg.evaluate,  # the defaults: confidence intervals on
        beam_args=FAST_BEAM,
        output_uri=str(out / "evaluation"),
        blessing_uri=str(out / "blessing"),
        report_path=str(out / "evaluate.html"),
    )
    print(f"evaluate ({cfg.evaluate.confidence_intervals}): {time.monotonic() - started:.0f} s")
    found["evaluate"] = (out / "evaluate.html").read_text()
    monitor_cfg, version = champion_setup(out / "monitoring", train_rows=2000)
    write_hour(monitor_cfg, 0, 500, seed=7, version=version)
    write_hour(monitor_cfg, 1, 500, seed=8, drifts=["mean_shift:income=1.5"], version=version)
    _, markdown, html = monitor.run(cfg=monitor_cfg, window=hour_window(1))
    found["monitor"], found["monitor_markdown"] = html, _markdown_page(markdown)
    rows = [
        {
            "run": f"kubetfx-training-2026-12-0{i}-02-39-12-215623",
            "state": "SUCCEEDED",
            "value": v,
            "blessed": True,
            "pushed": True,
            "version": i,
            "champion": i == 3,
        }
        for i, v in enumerate([0.97, None, 0.99, 1.0], start=1)
    ]
    found["history"] = chart_html(rows, "penguins", "accuracy")
    trials = [
        tuning.Trial(tuning.UNTUNED, {"units": 32, "learning_rate": 0.01}, 0.0068, 12, 20.0),
        tuning.Trial("1", {"units": 8, "learning_rate": 0.07}, 0.00025, 15, 9.0),
        tuning.Trial("2", {"units": 16, "learning_rate": 0.099}, None, 0, 1.0, "diverged"),
    ]
    searched = tuning.SearchResult("val_loss", False, "bayesian", "local", trials[1], trials)
    found["tune"] = tuning.render_html(searched)
    return found, out


# Figures each page must show: (svg id, what must be in it).
FIGURES = {
    "evaluate": {
        "confusion-matrix": lambda f: f["cells"] == 9,
        "roc": lambda f: f["curves"] == 3,
        "pr": lambda f: f["curves"] == 3,
        "calibration": lambda f: f["curves"] >= 1,
        "slices-accuracy": lambda f: f["bars"] >= 6 and f["whiskers"] == f["bars"],
        # Torgersen's penguins are all Adelie: AUC of Adelie is undefined there, a blank.
        "slices-auc-Adelie": lambda f: f["blanks"] >= 1 and f["whiskers"] >= 1,
    },
    "history": {"history": lambda f: f["curves"] == 1},  # one line through the runs
    "tune": {"tuning-objective": lambda f: f["bars"] == 2},  # the failed trial has no bar
}


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_offline_within_1000_px_with_its_figures(name, reports, chromium, tmp_path):
    page = reports[0][name]
    assert not browser.external_references(page), f"{name} would load something from outside"
    seen = browser.measure(chromium, page, tmp_path, name)
    assert not seen["errors"], seen["errors"]
    assert not seen["resources"], seen["resources"]
    assert seen["scrollWidth"] <= browser.WIDTH, (name, seen["scrollWidth"])
    assert seen["scrollWidth"] <= seen["clientWidth"], "horizontal overflow"
    for figure in seen["figures"]:
        assert figure["viewBox"] and figure["right"] <= browser.WIDTH, figure
    figures = {f["id"]: f for f in seen["figures"]}
    for fig_id, check in FIGURES.get(name, {}).items():
        assert fig_id in figures, f"{name}: no figure {fig_id!r} among {sorted(figures)}"
        assert figures[fig_id]["title"], fig_id
        assert check(figures[fig_id]), figures[fig_id]
    if name in ("statistics", "monitor"):
        assert seen["svgs"] > 5  # a histogram per feature and split


def test_undefined_is_missing_in_metrics_json_and_blank_in_the_report(reports):
    import json

    pages, out = reports
    assert "only Adelie in this slice" in pages["evaluate"] and "blank" in pages["evaluate"]
    metrics = json.loads((out / "evaluation" / "metrics.json").read_text())
    torgersen = metrics["candidate"]["island=Torgersen"]
    assert "auc[Adelie]" not in torgersen and "auc[Gentoo]" not in torgersen  # missing, not 0
    assert metrics["undefined"]["island=Torgersen"]["auc[Gentoo]"] == "no Gentoo in this slice"
    low, high = metrics["intervals"]["overall"]["calibration[Adelie]"]
    assert low <= metrics["candidate"]["overall"]["calibration[Adelie]"] <= high
