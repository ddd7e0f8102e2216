"""A model card as Markdown and as one self-contained HTML page (inline CSS and SVG, no
script, nothing wider than the Kubeflow UI's 1,000 px panel: kubetfx.components.svg)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubetfx.components import svg

if TYPE_CHECKING:
    from kubetfx.components.push.model_card import Card

FAIRNESS_PREFIX = "fairness_indicators_metrics/"  # TFMA's FairnessIndicators metric names
FAIRNESS_RATES = ("false_positive_rate", "false_negative_rate")
INTERVALS = "TFMA's, evaluate.confidence_intervals; else Wilson's for accuracy"

HEADLINE = ("accuracy", "auc", "example_count", "mean_squared_error", "mean_absolute_error",
            "calibration", "precision", "recall")  # fmt: skip


def _by_slice(card: Card) -> dict[str, dict[str, dict]]:
    """{slice: {metric: performance_metric}} of the candidate (the champion's left out)."""
    found: dict[str, dict[str, dict]] = {}
    for entry in card.mct["quantitative_analysis"]["performance_metrics"]:
        if " of champion " not in entry["type"]:
            found.setdefault(entry["slice"], {})[entry["type"]] = entry
    return found


def _headline_names(by_slice: dict) -> list[str]:
    names = {m for metrics in by_slice.values() for m in metrics}
    return sorted(m for m in names if m.split("[")[0] in HEADLINE)


def _fmt(entry: dict | None) -> str:
    if entry is None:
        return ""
    text = f"{float(entry['value']):.4g}"
    interval = entry.get("confidence_interval")
    if interval:
        low, high = float(interval["lower_bound"]), float(interval["upper_bound"])
        text += f" [{low:.3f}, {high:.3f}]"
    return text


def _considerations(card: Card) -> list[tuple[str, list[str]]]:
    c = card.mct["considerations"]
    risks = [
        f"{r['name']}: {r.get('mitigation_strategy', '')}" for r in c["ethical_considerations"]
    ]
    return [
        ("Intended use", [u["description"] for u in c["use_cases"]]),
        ("Users", [u["description"] for u in c["users"]] or ["not stated (model_card.users)"]),
        ("Limitations", [x["description"] for x in c["limitations"]] or ["none stated"]),
        ("Tradeoffs", [x["description"] for x in c["tradeoffs"]] or ["none stated"]),
        ("Ethical considerations", risks or ["none stated"]),
    ]


def _details(card: Card) -> list[tuple[str, str]]:
    d = card.mct["model_details"]
    owners = ", ".join(f"{o['name']} ({o['contact']})" if o["contact"] else o["name"]
                       for o in d["owners"])  # fmt: skip
    return [
        ("name", d["name"]),
        ("version", d["version"]["name"]),
        ("date", d["version"]["date"]),
        ("changes", d["version"]["diff"]),
        ("owners", owners or "not stated (model_card.owners)"),
        ("license", ", ".join(x["identifier"] for x in d["licenses"]) or "not stated"),
        ("architecture", card.mct["model_parameters"]["model_architecture"]),
        ("input", card.mct["model_parameters"]["input_format"]),
        ("output", card.mct["model_parameters"]["output_format"]),
    ]


def markdown(card: Card) -> str:
    d = card.mct["model_details"]
    lines = [f"# Model card: {d['name']}", "", f"**{card.status}**", "", d["overview"], ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {_md(v)} |" for k, v in _details(card)]
    for title, items in _considerations(card):
        lines += ["", f"## {title}", ""] + [f"- {item}" for item in items]
    lines += ["", "## Training and eval data", ""]
    lines += [f"- **{x['name']}** ({x['link']}): {x['description']}"
              for x in card.mct["model_parameters"]["data"]]  # fmt: skip
    by_slice = _by_slice(card)
    names = _headline_names(by_slice)
    lines += ["", "## Metrics per slice [95% interval]", ""]
    lines += ["| slice | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {s} | " + " | ".join(_fmt(m.get(n)) for n in names) + " |"
              for s, m in by_slice.items()]  # fmt: skip
    for title, items in card.sections:
        lines += ["", f"## {title}", ""] + [f"- {item}" for item in items]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{svg.esc(item)}</li>" for item in items) + "</ul>"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{svg.esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{svg.esc(c)}</td>' if i else f"<th>{svg.esc(c)}</th>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )  # fmt: skip
    return svg.scroll(f"<table><tr>{head}</tr>{body}</table>")


def _figure(by_slice: dict) -> str:
    """Accuracy (or mean squared error) per slice, with its interval and example count."""
    accuracy = any("accuracy" in m for m in by_slice.values())
    metric = "accuracy" if accuracy else "mean_squared_error"
    rows = []
    for name, metrics in by_slice.items():
        entry, count = metrics.get(metric), metrics.get("example_count")
        interval = (entry or {}).get("confidence_interval") or {}
        rows.append({
            "label": name,
            "value": float(entry["value"]) if entry else None,
            "low": float(interval["lower_bound"]) if interval else None,
            "high": float(interval["upper_bound"]) if interval else None,
            "n": float(count["value"]) if count else None,
            "note": f"no {metric} on this slice",
        })  # fmt: skip
    if not rows:
        return ""
    hi = 1.0 if metric == "accuracy" else None
    chart = svg.interval_bars("slices", f"{metric} per slice", rows, hi=hi)
    return svg.figure(chart, f"{metric} per slice; whiskers: 95% interval ({INTERVALS})")


def html(card: Card) -> str:
    d = card.mct["model_details"]
    by_slice = _by_slice(card)
    names = _headline_names(by_slice)
    parts = [f'<p class="{"note" if d["version"]["name"] != "not pushed" else "warn"}">'
             f"{svg.esc(card.status)}</p><p>{svg.esc(d['overview'])}</p>",
             _table(["", ""], [[k, v] for k, v in _details(card)])]  # fmt: skip
    for title, items in _considerations(card):
        parts.append(f"<h2>{svg.esc(title)}</h2>{_list(items)}")
    data = card.mct["model_parameters"]["data"]
    parts.append("<h2>Training and eval data</h2>"
                 + _table(["split", "link", "description"],
                          [[x["name"], x["link"], x["description"]] for x in data]))  # fmt: skip
    parts.append("<h2>Metrics per slice</h2>" + _figure(by_slice))
    parts.append(
        _table(
            ["slice", *names], [[s, *(_fmt(m.get(n)) for n in names)] for s, m in by_slice.items()]
        )
    )
    fairness = sorted(
        {n for m in by_slice.values() for n in m
         if n.startswith(FAIRNESS_PREFIX) and any(r in n for r in FAIRNESS_RATES)}
    )  # fmt: skip
    if fairness:
        rows = [[s, *(_fmt(m.get(n)) for n in fairness)]
                for s, m in by_slice.items() if any(n in m for n in fairness)]  # fmt: skip
        short = [n.removeprefix(FAIRNESS_PREFIX) for n in fairness]
        parts.append(
            "<h2>Fairness: false positive and negative rates per slice</h2>"
            + _table(["slice", *short], rows)
        )
    for title, items in card.sections:
        parts.append(f"<h2>{svg.esc(title)}</h2>{_list(items)}")
    return svg.page(f"Model card: {d['name']}", "".join(parts))
