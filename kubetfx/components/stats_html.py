"""A self-contained HTML view of TFDV statistics, one column per split (or per dataset).

TFDV's own `get_statistics_html` loads Facets from a CDN, which renders blank in an
air-gapped Kubeflow UI or notebook. This page is plain HTML + inline SVG: it renders anywhere.
"""

from __future__ import annotations

import html as _html

from kubetfx.components import svg

_COLORS = svg.COLORS


def _features(stats_list) -> dict[str, object]:
    dataset = stats_list.datasets[0]
    return {".".join(f.path.step) or f.name: f for f in dataset.features}


def _esc(value: object) -> str:
    return _html.escape(str(value))


def _fmt(value: float) -> str:
    return f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"


def _common(feature):
    stats = feature.num_stats if feature.HasField("num_stats") else feature.string_stats
    return stats.common_stats


def _missing_pct(feature, num_examples: int) -> float:
    if not num_examples:
        return 0.0
    return 100.0 * (num_examples - _common(feature).num_non_missing) / num_examples


def _histogram_svg(feature, color: str) -> str:
    """Bars of the standard histogram (numeric) or of the top values (categorical)."""
    if feature.HasField("num_stats"):
        hists = [h for h in feature.num_stats.histograms if h.type == 0]  # STANDARD
        counts = [b.sample_count for b in hists[0].buckets] if hists else []
        labels = (
            [f"{b.low_value:.3g}..{b.high_value:.3g}" for b in hists[0].buckets] if hists else []
        )
    else:
        top = list(feature.string_stats.top_values)[:12]
        counts = [v.frequency for v in top]
        labels = [v.value for v in top]
    if not counts or max(counts) <= 0:
        return ""
    width, height, peak = 220, 60, max(counts)
    bar = width / len(counts)
    rects = []
    for i, (count, label) in enumerate(zip(counts, labels, strict=True)):
        h = height * count / peak
        rects.append(
            f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{_esc(label)}: {count:,.0f}</title></rect>'
        )
    rects = "".join(rects)
    return (
        f'<svg class="histogram" viewBox="0 0 {width} {height}" width="{width}" role="img">'
        f"{rects}</svg>"
    )


def _numeric_cell(feature, num_examples: int) -> str:
    n = feature.num_stats
    missing = _missing_pct(feature, num_examples)
    cls = ' class="warn"' if missing > 0 else ""
    return (
        f"mean {_fmt(n.mean)} · std {_fmt(n.std_dev)}<br>min {_fmt(n.min)} · median "
        f"{_fmt(n.median)} · max {_fmt(n.max)}<br>zeros {n.num_zeros:,} · "
        f"<span{cls}>missing {missing:.1f}%</span>"
    )


def _string_cell(feature, num_examples: int) -> str:
    s = feature.string_stats
    missing = _missing_pct(feature, num_examples)
    cls = ' class="warn"' if missing > 0 else ""
    top = ", ".join(f"{_esc(v.value)} ({v.frequency:,.0f})" for v in list(s.top_values)[:5])
    return f"unique {s.unique:,} · <span{cls}>missing {missing:.1f}%</span><br><small>{top}</small>"


def render(stats_by_name: dict[str, object], title: str) -> str:
    """HTML for {split or dataset name: DatasetFeatureStatisticsList}."""
    names = list(stats_by_name)
    features = {name: _features(stats) for name, stats in stats_by_name.items()}
    counts = {name: stats.datasets[0].num_examples for name, stats in stats_by_name.items()}
    all_features = sorted({f for by_name in features.values() for f in by_name})
    head = "".join(f"<th>{_esc(n)} <small>({counts[n]:,} rows)</small></th>" for n in names)
    sections = []
    for kind, numeric in (("Numeric features", True), ("Categorical features", False)):
        rows = []
        for feature_name in all_features:
            present = [
                by_name[feature_name] for by_name in features.values() if feature_name in by_name
            ]
            if present[0].HasField("num_stats") != numeric:
                continue
            cells = []
            for i, name in enumerate(names):
                feature = features[name].get(feature_name)
                if feature is None:
                    cells.append('<td class="warn">absent</td>')
                elif feature.HasField("num_stats") != numeric:
                    cells.append('<td class="warn">type differs</td>')
                else:
                    body = (_numeric_cell if numeric else _string_cell)(feature, counts[name])
                    chart = _histogram_svg(feature, _COLORS[i % len(_COLORS)])
                    cells.append(f"<td>{body}<br>{chart}</td>")
            rows.append(f"<tr><th>{_esc(feature_name)}</th>{''.join(cells)}</tr>")
        if rows:
            table = f"<table><tr><th>feature</th>{head}</tr>{''.join(rows)}</table>"
            sections.append(f"<h2>{kind}</h2>{svg.scroll(table)}")
    return svg.page(title, "".join(sections))
