"""`kubetfx runs compare A B` and `kubetfx runs history`: what differs between two runs, and
how a metric moved over a dataset's runs.

Both read runs through the artifact API (kubetfx.pipelines.artifacts.open_run), so a run can
be a local run name (in the config's pipeline_root), a run directory under a gs:// root,
`kubeflow:RUN_ID` or a Vertex PipelineJob name. A part a run does not have (a step that failed
or did not run) is shown as missing, never as zero.
"""

from __future__ import annotations

import dataclasses
import html
import json

from kubetfx.components import fileio
from kubetfx.components.contracts import INGEST_FILE, headline
from kubetfx.components.svg import page, scroll
from kubetfx.errors import ConfigError, KubetfxError
from kubetfx.pipelines.artifacts import Run, list_runs, open_run


def _attempt(read):
    """read(), or None when the run does not have that part."""
    try:
        return read()
    except (KubetfxError, OSError, KeyError, ValueError):
        return None


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@dataclasses.dataclass
class RunFacts:
    """What compare and history read of one run."""

    name: str
    state: str
    config: dict | None
    data: dict | None  # fingerprint, rows, files, span
    metrics: dict | None  # {slice: headline metrics}
    blessing: dict | None  # blessed, reasons
    push: dict | None  # pushed, version, reason, champion

    @classmethod
    def of(cls, run: Run) -> RunFacts:
        def data():
            body = json.loads(
                fileio.read_text(fileio.join(run.uri("ingest", "examples"), INGEST_FILE))
            )
            return {k: body.get(k) for k in ("fingerprint", "rows", "files", "span")}

        def metrics():
            return {s: headline(m) for s, m in run.metrics()["candidate"].items()}

        def blessing():
            found = run.blessing()
            return {"blessed": found.blessed, "reasons": list(found.reasons)}

        def push():
            found = run.pushed()
            return {
                "pushed": found.pushed,
                "version": found.version,
                "reason": found.reason,
                "champion": found.champion,
            }

        return cls(
            run.name,
            run.state,
            run.config(),
            _attempt(data),
            _attempt(metrics),
            _attempt(blessing),
            _attempt(push),
        )


def config_diff(a: dict | None, b: dict | None) -> list[dict]:
    """Keys whose values differ: {key, a, b}; a key one config lacks shows as None."""
    flat_a, flat_b = flatten(a or {}), flatten(b or {})
    return [
        {"key": key, "a": flat_a.get(key), "b": flat_b.get(key)}
        for key in sorted({*flat_a, *flat_b})
        if flat_a.get(key) != flat_b.get(key)
    ]


def metric_rows(a: dict | None, b: dict | None) -> list[dict]:
    """{slice, metric, a, b, delta} for every headline metric either run has (overall first)."""
    a, b = a or {}, b or {}
    rows = []
    for slice_name in sorted({*a, *b}, key=lambda s: (s != "overall", s)):
        left, right = a.get(slice_name, {}), b.get(slice_name, {})
        for metric in sorted({*left, *right}):
            x, y = left.get(metric), right.get(metric)
            delta = y - x if x is not None and y is not None else None
            rows.append({"slice": slice_name, "metric": metric, "a": x, "b": y, "delta": delta})
    return rows


def compare(a: RunFacts, b: RunFacts) -> dict:
    return {
        "a": a.name,
        "b": b.name,
        "states": {"a": a.state, "b": b.state},
        "config": config_diff(a.config, b.config),
        "data": {"a": a.data, "b": b.data},
        "metrics": metric_rows(a.metrics, b.metrics),
        "blessing": {"a": a.blessing, "b": b.blessing},
        "push": {"a": a.push, "b": b.push},
    }


def _value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) > 1 else f"{value:.4f}"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _outcome(blessing: dict | None, push: dict | None) -> str:
    if blessing is None:
        return "not evaluated"
    verdict = "BLESSED" if blessing["blessed"] else "NOT BLESSED"
    reasons = "; ".join(blessing["reasons"][:2])
    if push is None:
        pushed = "push did not run"
    elif push["pushed"]:
        pushed = f"pushed version {push['version']}" + (" (champion)" if push["champion"] else "")
    else:
        pushed = f"not pushed: {push['reason']}"
    return f"{verdict} ({reasons}); {pushed}"


def _data(data: dict | None) -> str:
    if data is None:
        return "ingest did not run"
    rows = ", ".join(f"{k} {int(v):,}" for k, v in (data.get("rows") or {}).items())
    return f"fingerprint {data.get('fingerprint')}; rows {rows}; files {data.get('files')}"


def render_compare(result: dict) -> str:
    lines = [
        f"A: {result['a']} ({result['states']['a']})",
        f"B: {result['b']} ({result['states']['b']})",
        "",
        "Config (keys that differ):",
    ]
    lines += [f"  {r['key']}: {_value(r['a'])} -> {_value(r['b'])}" for r in result["config"]]
    if not result["config"]:
        lines.append("  the same")
    data = result["data"]
    lines += ["", "Data:", f"  A: {_data(data['a'])}", f"  B: {_data(data['b'])}"]
    lines += ["", "Metrics (B - A):"]
    width = max([5, *(len(r["slice"]) for r in result["metrics"])])
    for r in result["metrics"]:
        delta = "-" if r["delta"] is None else f"{r['delta']:+.4f}".replace("+0.0000", "0")
        lines.append(
            f"  {r['slice']:<{width}}  {r['metric']:<20} {_value(r['a']):>10} "
            f"{_value(r['b']):>10} {delta:>10}"
        )
    if not result["metrics"]:
        lines.append("  neither run was evaluated")
    bless, push = result["blessing"], result["push"]
    lines += [
        "",
        "Outcome:",
        f"  A: {_outcome(bless['a'], push['a'])}",
        f"  B: {_outcome(bless['b'], push['b'])}",
    ]
    return "\n".join(lines)


def _champion_version(config: dict | None) -> int | None:
    """The version the registry of this config names champion now (None if unknown)."""
    from kubetfx.components.registry import ModelRegistry

    push = (config or {}).get("push") or {}
    if not push.get("registry") or not push.get("model_name"):
        return None
    found = _attempt(lambda: ModelRegistry(push["registry"], push["model_name"]).champion())
    return found["version"] if found else None


def history(root: str, dataset: str, metric: str, slice_name: str = "overall") -> list[dict]:
    """The metric of every run of `dataset` (config data.name) in a pipeline root, oldest first:
    {run, state, value, blessed, pushed, version, champion}. The champion is the run that
    pushed the version the registry names champion now (else the last run that pushed)."""
    rows, config = [], None
    for name in list_runs(root):
        facts = RunFacts.of(open_run(root, name))
        if (facts.config or {}).get("data", {}).get("name") != dataset:
            continue
        config = facts.config
        value = (facts.metrics or {}).get(slice_name, {}).get(metric)
        rows.append(
            {
                "run": name,
                "state": facts.state,
                "value": value,
                "blessed": facts.blessing["blessed"] if facts.blessing else None,
                "pushed": bool(facts.push and facts.push["pushed"]),
                "version": facts.push["version"] if facts.push else None,
                "champion": False,
            }
        )
    pushed = [r for r in rows if r["pushed"] and r["version"] is not None]
    current = _champion_version(config)
    crowned = [r for r in pushed if r["version"] == current] or pushed[-1:]
    if crowned:
        crowned[0]["champion"] = True
    return rows


def render_history(rows: list[dict], metric: str) -> str:
    lines = [f"{'RUN':<48} {'STATE':<10} {metric.upper():>10}  OUTCOME"]
    for r in rows:
        value = "-" if r["value"] is None else f"{r['value']:.4f}"
        outcome = "pushed" if r["pushed"] else ("blessed" if r["blessed"] else "")
        mark = "  <- champion" if r["champion"] else ""
        lines.append(f"{r['run']:<48} {r['state']:<10} {value:>10}  {outcome}{mark}")
    return "\n".join(lines)


def chart_html(rows: list[dict], dataset: str, metric: str) -> str:
    """A self-contained page: the metric per run as an inline SVG line chart (no script, no
    external resource), the champion ringed, under 1,000 px wide, and the table."""
    width, height, pad = 900, 320, 48
    points = [(i, r["value"]) for i, r in enumerate(rows) if r["value"] is not None]
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="history" viewBox="0 0 {width} {height}" '
        f'width="{width}" role="img"><title>{html.escape(metric)} per run</title>'
    ]
    if points:
        low = min(v for _, v in points)
        high = max(v for _, v in points)
        span = (high - low) or 1.0
        step = (width - 2 * pad) / max(len(rows) - 1, 1)

        def xy(i, v):
            return pad + i * step, height - pad - (v - low) / span * (height - 2 * pad)

        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in points))
        svg.append(
            f'<polyline class="curve" fill="none" stroke="#1a73e8" stroke-width="2" '
            f'points="{path}"/>'
        )
        for i, v in points:
            x, y = xy(i, v)
            label = html.escape(f"{rows[i]['run']}: {v:.4f}")
            at = f'cx="{x:.1f}" cy="{y:.1f}"'
            svg.append(f'<circle {at} r="4" fill="#1a73e8"><title>{label}</title></circle>')
            if rows[i]["champion"]:
                svg.append(f'<circle {at} r="9" fill="none" stroke="#e37400" stroke-width="2"/>')
        for value, y in ((high, pad), (low, height - pad)):
            svg.append(f'<text x="4" y="{y + 4:.0f}" font-size="12">{value:.4f}</text>')
    else:
        svg.append(f'<text x="{pad}" y="{height // 2}">no run has {html.escape(metric)}</text>')
    svg.append("</svg>")
    table = "".join(
        f"<tr><td>{html.escape(r['run'])}</td><td>{html.escape(r['state'])}</td>"
        f"<td>{'' if r['value'] is None else format(r['value'], '.4f')}</td>"
        f"<td>{'champion' if r['champion'] else ('pushed' if r['pushed'] else '')}</td></tr>"
        for r in rows
    )
    table = (
        f"<table><tr><th>run</th><th>state</th><th>{html.escape(metric)}</th><th></th></tr>"
        f"{table}</table>"
    )
    return page(f"{metric} over the runs of {dataset}", "".join(svg) + scroll(table))


def _open(ref: str, cfg, args):
    """A run by reference: kubeflow:ID, a Vertex PipelineJob name, or a run name in --root
    (default: the config's pipeline_root)."""
    if ref.startswith("kubeflow:"):
        from kubetfx.runners.operations import Kubeflow

        return open_run(ref, kfp_client=Kubeflow.connect(cfg, args).client)
    if ref.startswith("projects/"):
        return open_run(ref, project=args.project, location=args.region)
    return open_run(args.root or cfg.pipeline_root, ref)


def cmd_compare(cfg, args) -> int:
    """`kubetfx runs compare A B`."""
    if not args.id or not args.other:
        raise ConfigError("runs compare: give two runs, e.g. `kubetfx runs compare RUN_A RUN_B`")
    result = compare(
        RunFacts.of(_open(args.id, cfg, args)), RunFacts.of(_open(args.other, cfg, args))
    )
    print(
        json.dumps(result, indent=2, default=str)
        if args.output == "json"
        else render_compare(result)
    )
    return 0


def cmd_history(cfg, args) -> int:
    """`kubetfx runs history --dataset D --metric M [--html FILE]`."""
    dataset = args.dataset or cfg.data.name
    rows = history(args.root or cfg.pipeline_root, dataset, args.metric, args.slice)
    if not rows:
        raise ConfigError(
            f"--dataset: no run of {dataset!r} in {args.root or cfg.pipeline_root!r} "
            "(runs recorded before kubetfx kept their config are not counted)"
        )
    print(
        json.dumps(rows, indent=2) if args.output == "json" else render_history(rows, args.metric)
    )
    if args.html:
        fileio.write_text(args.html, chart_html(rows, dataset, args.metric))
        if args.output != "json":
            print(f"chart: {args.html}")
    return 0
