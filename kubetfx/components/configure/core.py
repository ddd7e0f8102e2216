"""The run's effective config: the `config` parameter with the typed parameters a user edits
in the Kubeflow UI or the Vertex console applied on top (a value given there wins).

"Not given" is an empty string or -1, the parameters' defaults. A data path given without a
dataset name also renames the dataset (and the model) when the config's name was the one
derived from its own path, as `kubetfx run --data` does. The result is validated like any
config, so a bad value fails here naming its field.
"""

from __future__ import annotations

from pydantic import ValidationError

from kubetfx.components.config import PipelineConfig, dataset_name_from_path
from kubetfx.errors import ConfigError

# parameter -> the config field it sets
FIELDS = {
    "data_path": "data.path",
    "label": "data.label",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "learning_rate": "train.learning_rate",
    "min_accuracy": "evaluate.thresholds.accuracy.lower",
}
NOT_GIVEN = ("", -1, -1.0)


def apply(*, config: str, **parameters) -> tuple[str, dict]:
    """(the effective config as JSON, the parameters that were given, by config field)."""
    unknown = set(parameters) - set(FIELDS)
    if unknown:
        raise ConfigError(f"unknown run parameter(s) {sorted(unknown)}; known: {list(FIELDS)}")
    given = {FIELDS[k]: v for k, v in parameters.items() if v not in NOT_GIVEN}
    cfg = PipelineConfig.from_json(config)
    raw = cfg.model_dump(by_alias=True)
    derived = cfg.data.name == dataset_name_from_path(cfg.data.path)
    if "data.path" in given and derived:
        raw["data"]["name"] = None  # derived again from the new path
        if cfg.push.model_name == cfg.data.name:
            raw["push"]["model_name"] = None
    for field, value in given.items():
        *parents, leaf = field.split(".")
        node = raw
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    try:
        effective = PipelineConfig.model_validate(raw)
    except ValidationError as e:
        names = ", ".join(f"{k}={v!r}" for k, v in given.items())
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in e.errors()
        )
        raise ConfigError(f"run parameters ({names}) make an invalid config: {problems}") from e
    return effective.to_json(), given
