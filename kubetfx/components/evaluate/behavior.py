"""Behavioral tests of a trained model (as in Made-With-ML), driven by the config.

- invariance: setting a feature that must not matter to each of several values leaves the
  prediction unchanged for at least `min_agreement` of the rows;
- directional: adding `delta` to a feature moves the chosen output the expected way for at
  least `min_fraction` of the rows.

Both call the model's `serving_default` signature on raw rows, as a client would. Evaluate
runs them on the eval split and a failed check withholds the blessing.
"""

from __future__ import annotations

import numpy as np

from kubetfx.components.contracts import SERVING_DEFAULT
from kubetfx.components.evaluate.config import DirectionalCheck, EvaluateConfig, InvarianceCheck
from kubetfx.errors import ConfigError


def raw_rows(serialized: list[bytes], signature) -> dict[str, np.ndarray]:
    """tf.Examples as the raw columns a JSON client sends (NaN / '' for missing values)."""
    import tensorflow as tf

    inputs = signature.structured_input_signature[1]
    columns: dict[str, list] = {name: [] for name in inputs}
    for data in serialized:
        feature = tf.train.Example.FromString(data).features.feature
        for name, spec in inputs.items():
            kind = feature[name].WhichOneof("kind") if name in feature else None
            values = list(getattr(feature[name], kind).value) if kind else []
            missing = "" if spec.dtype == tf.string else float("nan")
            columns[name].append(values[0] if values else missing)
    return {
        name: np.array(values, dtype=object if inputs[name].dtype == tf.string else None)
        for name, values in columns.items()
    }


def run_checks(model_dir: str, serialized: list[bytes], cfg: EvaluateConfig, classes):
    """(passed, failed) descriptions of every configured check, on these examples."""
    import tensorflow as tf

    model = tf.saved_model.load(model_dir)
    rows = raw_rows(serialized, model.signatures[SERVING_DEFAULT])
    passed, failed = [], []
    for i, check in enumerate(cfg.invariance):
        _require(check.feature in rows, f"evaluate.invariance[{i}].feature", check.feature, rows)
        share = invariance(model, rows, check)
        text = (
            f"{check.feature} set to each of {check.values} leaves {share:.0%} of predictions "
            f"unchanged (needs {check.min_agreement:.0%})"
        )
        (passed if share >= check.min_agreement else failed).append(text)
    for i, check in enumerate(cfg.directional):
        where = f"evaluate.directional[{i}]"
        _require(check.feature in rows, f"{where}.feature", check.feature, rows)
        outputs = ["prediction"] if not classes else list(classes)
        _require(check.output in outputs, f"{where}.output", check.output, outputs)
        share = directional(model, rows, check, classes)
        text = (
            f"{check.feature} {check.delta:+g} moves {check.output} {check.direction} for "
            f"{share:.0%} of rows (needs {check.min_fraction:.0%})"
        )
        (passed if share >= check.min_fraction else failed).append(text)
    return passed, failed


def _require(ok: bool, field: str, got, choices) -> None:
    if not ok:
        raise ConfigError(f"{field}: {got!r} is not one of {sorted(choices)}")


def _predict(signature, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    inputs = signature.structured_input_signature[1]
    feed = {name: tf.constant(rows[name], dtype=spec.dtype) for name, spec in inputs.items()}
    return {k: v.numpy() for k, v in signature(**feed).items()}


def _decision(outputs: dict[str, np.ndarray]) -> np.ndarray:
    return outputs["class_ids"] if "class_ids" in outputs else outputs["predictions"]


def invariance(model, rows: dict[str, np.ndarray], check: InvarianceCheck) -> float:
    """The fraction of rows whose prediction is the same for every value of the feature."""
    signature = model.signatures[SERVING_DEFAULT]
    n = len(next(iter(rows.values())))
    decisions = []
    for value in check.values:
        changed = dict(rows, **{check.feature: np.full(n, value)})
        decisions.append(_decision(_predict(signature, changed)))
    same = np.all([np.isclose(d, decisions[0], rtol=1e-3) for d in decisions], axis=0)
    return float(same.mean())


def directional(model, rows: dict[str, np.ndarray], check: DirectionalCheck, classes) -> float:
    """The fraction of rows whose output moved the expected way (or stayed, if saturated)."""
    signature = model.signatures[SERVING_DEFAULT]
    before = _predict(signature, rows)
    moved_rows = dict(rows, **{check.feature: rows[check.feature] + check.delta})
    after = _predict(signature, moved_rows)
    if check.output == "prediction":
        old, new = before["predictions"], after["predictions"]
    else:
        index = list(classes).index(check.output)
        old, new = before["probabilities"][:, index], after["probabilities"][:, index]
    ok = new >= old - 1e-6 if check.direction == "up" else new <= old + 1e-6
    return float(ok.mean())
