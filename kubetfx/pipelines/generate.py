"""A deterministic synthetic tabular dataset (customer churn), of any size, with drift options.

Rows are produced in fixed-size chunks, each from its own seeded generator, and written as
they are made: memory stays flat for any row count, and the same seed gives the same bytes.

Columns: age (int), income (float, 5% missing), tenure_months (int), usage_hours (float),
region, plan, device (categorical; device 3% missing) and the label `churned` (0/1), which
depends on tenure, plan, usage, age and region. Two more columns have the shapes real data
has and synthetic data usually lacks: `city`, a long-tailed categorical (60 values with
Zipf-like frequencies, most under 1% of rows), and `promo_code`, present in 0.3% of rows.
They are drawn after everything else, so the other columns do not depend on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pandas as pd

from kubetfx.errors import ConfigError

CHUNK_ROWS = 100_000
LABEL = "churned"
CATEGORIES = {
    "region": (["north", "south", "east", "west", "central"], [0.3, 0.25, 0.2, 0.15, 0.1]),
    "plan": (["basic", "standard", "premium"], [0.5, 0.35, 0.15]),
    "device": (["android", "ios", "web", "desktop"], [0.4, 0.35, 0.15, 0.1]),
}
NUMERIC_STD = {"age": 12.0, "income": 25_000.0, "tenure_months": 5.0, "usage_hours": 14.0}
CITIES = [f"city_{i:02d}" for i in range(60)]
CITY_WEIGHTS = 1.0 / np.arange(1, len(CITIES) + 1) ** 1.1  # Zipf-like: a long tail
PROMO_CODES = ["SPRING", "WELCOME10", "LOYAL"]
PROMO_PRESENT = 0.003
LONG_TAIL = {"city": (CITIES, CITY_WEIGHTS / CITY_WEIGHTS.sum())}
FEATURES = [*NUMERIC_STD, *CATEGORIES, *LONG_TAIL, "promo_code"]
BASE_MISSING = {"income": 0.05, "device": 0.03}
DRIFT_KINDS = {
    "mean_shift": "numeric feature: add VALUE standard deviations to its mean (default 1)",
    "category_mix": "categorical feature: reverse its category frequencies",
    "new_category": "categorical feature: VALUE of rows (default 0.2) get a never-seen value",
    "missing": "any feature: VALUE of rows (default 0.3) are missing",
    "drop": "any feature: the column is left out",
}


@dataclasses.dataclass(frozen=True)
class Drift:
    kind: str
    feature: str
    value: float | None = None

    @classmethod
    def parse(cls, spec: str) -> Drift:
        """'mean_shift:income=1.5' -> Drift('mean_shift', 'income', 1.5)."""
        kind, _, rest = spec.partition(":")
        feature, _, value = rest.partition("=")
        if kind not in DRIFT_KINDS:
            raise ConfigError(
                f"--drift {spec!r}: unknown kind {kind!r}; expected one of {sorted(DRIFT_KINDS)} "
                "as KIND:FEATURE[=VALUE]"
            )
        if feature not in FEATURES:
            raise ConfigError(
                f"--drift {spec!r}: unknown feature {feature!r}; expected one of {FEATURES}"
            )
        numeric_only, categorical_only = (
            kind == "mean_shift",
            kind in ("category_mix", "new_category"),
        )
        if (numeric_only and feature not in NUMERIC_STD) or (
            categorical_only and feature not in CATEGORIES
        ):
            raise ConfigError(
                f"--drift {spec!r}: {kind} does not apply to {feature!r} ({DRIFT_KINDS[kind]})"
            )
        try:
            number = float(value) if value else None
        except ValueError as e:
            raise ConfigError(f"--drift {spec!r}: VALUE must be a number, got {value!r}") from e
        if kind in ("missing", "new_category") and number is not None and not 0 <= number <= 1:
            raise ConfigError(f"--drift {spec!r}: VALUE is a fraction of rows, in [0, 1]")
        return cls(kind, feature, number)


def _categorical(rng, feature: str, n: int, drifts: list[Drift]) -> np.ndarray:
    values, probs = CATEGORIES[feature]
    values, probs = list(values), np.array(probs)
    for d in drifts:
        if d.feature == feature and d.kind == "category_mix":
            probs = probs[::-1].copy()
    out = rng.choice(np.array(values, dtype=object), size=n, p=probs)
    for d in drifts:
        if d.feature == feature and d.kind == "new_category":
            out[rng.random(n) < (d.value if d.value is not None else 0.2)] = f"new_{feature}"
    return out


def chunk(seed: int, index: int, n: int, drifts: list[Drift], label: bool) -> pd.DataFrame:
    """Rows [index*CHUNK_ROWS, index*CHUNK_ROWS + n): a pure function of its arguments."""
    rng = np.random.default_rng([seed, index])
    shift = {
        d.feature: (d.value if d.value is not None else 1.0)
        for d in drifts
        if d.kind == "mean_shift"
    }
    sd = NUMERIC_STD
    age = np.clip(rng.normal(42 + shift.get("age", 0) * sd["age"], sd["age"], n), 18, 95).round()
    income = rng.lognormal(10.8, 0.45, n) + shift.get("income", 0) * sd["income"]
    tenure = rng.poisson(24, n) + np.round(shift.get("tenure_months", 0) * sd["tenure_months"])
    usage = rng.gamma(2.0, 10.0, n) + shift.get("usage_hours", 0) * sd["usage_hours"]
    cats = {f: _categorical(rng, f, n, drifts) for f in CATEGORIES}
    logit = (
        -0.2
        - 0.06 * (tenure - 24)
        + 0.9 * (cats["plan"] == "basic")
        - 0.8 * (cats["plan"] == "premium")
        - 0.03 * (usage - 20)
        + 0.015 * (42 - age)
        + 0.5 * (cats["region"] == "south")
    )
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit.astype(float)))).astype(np.int64)
    frame = pd.DataFrame(
        {
            "age": pd.array(age.astype(np.int64), dtype="Int64"),
            "income": income.round(2),
            "tenure_months": pd.array(tenure.astype(np.int64), dtype="Int64"),
            "usage_hours": usage.round(2),
            **cats,
        }
    )
    missing = dict(BASE_MISSING)
    missing.update(
        {
            d.feature: (d.value if d.value is not None else 0.3)
            for d in drifts
            if d.kind == "missing"
        }
    )
    late = {"city", "promo_code"}  # drawn last: the other columns do not depend on them
    for feature, fraction in missing.items():
        if feature not in late:
            frame.loc[rng.random(n) < fraction, feature] = None
    cities, weights = LONG_TAIL["city"]
    frame["city"] = rng.choice(np.array(cities, dtype=object), size=n, p=weights)
    promo = rng.choice(np.array(PROMO_CODES, dtype=object), size=n)
    frame["promo_code"] = np.where(rng.random(n) < PROMO_PRESENT, promo, None)
    for feature in late & missing.keys():
        frame.loc[rng.random(n) < missing[feature], feature] = None
    if label:
        frame[LABEL] = churned
    dropped = [d.feature for d in drifts if d.kind == "drop"]
    return frame.drop(columns=dropped)


def chunks(rows: int, seed: int, drifts: list[Drift], label: bool) -> Iterator[pd.DataFrame]:
    for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
        yield chunk(seed, index, min(CHUNK_ROWS, rows - start), drifts, label)


def write(
    out: str, rows: int, seed: int = 0, drifts: list[Drift] | None = None, label: bool = True
) -> int:
    """Write `rows` rows to `out` (.csv or .parquet); return the row count."""
    if rows < 1:
        raise ConfigError(f"--rows must be at least 1, got {rows}")
    drifts = drifts or []
    if out.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        for frame in chunks(rows, seed, drifts, label):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
        writer.close()
        return rows
    if not out.endswith(".csv"):
        raise ConfigError(f"--out must end in .csv or .parquet, got {out!r}")
    with open(out, "w", newline="") as handle:
        for i, frame in enumerate(chunks(rows, seed, drifts, label)):
            frame.to_csv(handle, header=i == 0, index=False, na_rep="")
    return rows
