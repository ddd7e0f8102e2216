"""Loading the pipeline config: YAML file + CLI overrides -> one validated PipelineConfig.

Errors become `ConfigError`s that name the field, the value received and what was expected.
"""

from __future__ import annotations

import os
from typing import Any

import yaml
from pydantic import ValidationError

from kubetfx.components import fileio
from kubetfx.components.config import BUILTIN_PENGUINS, PipelineConfig
from kubetfx.errors import ConfigError


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {key!r} is not a section in the config file")
        node = child
    node[leaf] = value


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    field = field.replace("schema_", "schema").replace("validate_", "validate")
    got = error.get("input")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{field}: unknown field (got {got!r}); check the spelling against `kubetfx config`"
    if error["type"] == "missing":
        return f"{field}: required but missing"
    return f"{field}: {message} (got {got!r})"


DATASET_DEFAULTS = {BUILTIN_PENGUINS: "penguins.yaml"}  # in kubetfx/components/defaults/


def with_dataset_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` on top of its dataset's default file, when the data is a built-in dataset: in
    each section, a key set in `raw` replaces the file's."""
    data = raw.get("data")
    path = data.get("path", BUILTIN_PENGUINS) if isinstance(data, dict) else BUILTIN_PENGUINS
    if path not in DATASET_DEFAULTS:
        return raw
    from importlib import resources

    text = (resources.files("kubetfx.components") / "defaults" / DATASET_DEFAULTS[path]).read_text()
    merged = dict(raw)
    for section, values in yaml.safe_load(text).items():
        given = raw.get(section, {})
        merged[section] = {**values, **given} if isinstance(given, dict) else given
    return merged


def validate_config(raw: dict[str, Any], source: str) -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(with_dataset_defaults(raw))
    except ValidationError as e:
        details = "\n  ".join(_describe(err) for err in e.errors())
        raise ConfigError(f"invalid config ({source}):\n  {details}") from e


def read_yaml(path: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(fileio.read_text(path)) or {}
    except FileNotFoundError as e:
        raise ConfigError(f"--config: file {path!r} does not exist") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"--config: {path!r} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"--config: {path!r} must hold a mapping, got {type(raw).__name__}")
    return raw


def load_config(path: str | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """The config from an optional YAML file, with dotted-key overrides (CLI flags) on top."""
    raw = read_yaml(path) if path else {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, dotted, value)
    return validate_config(raw, path or "defaults and flags")


def localize(cfg: PipelineConfig) -> PipelineConfig:
    """Make relative local paths absolute, for a local run (every section's, in one place).

    Components run in other processes with another working directory, so a relative path
    must be resolved once, here, against the directory the user ran kubetfx from.
    """
    return cfg.model_copy(
        update={
            "pipeline_root": _absolute(cfg.pipeline_root),
            "reference_root": _absolute(cfg.reference_root),
            "data": cfg.data.model_copy(
                update={
                    "path": cfg.data.path
                    if cfg.data.path == BUILTIN_PENGUINS
                    else _absolute(cfg.data.path)
                }
            ),
            "schema_": cfg.schema_.model_copy(
                update={"import_path": _absolute(cfg.schema_.import_path)}
            ),
            "push": cfg.push.model_copy(update={"registry": _absolute(cfg.push.registry)}),
            "serving": cfg.serving.model_copy(
                update={
                    "registry": _absolute(cfg.serving.registry),
                    "request_log": cfg.serving.request_log.model_copy(
                        update={"dir": _absolute(cfg.serving.request_log.dir)}
                    ),
                }
            ),
            "infra_validate": cfg.infra_validate.model_copy(
                update={"server_python": _absolute(cfg.infra_validate.server_python)}
            ),
            "transform": cfg.transform.model_copy(
                update={"module_file": _absolute(cfg.transform.module_file)}
            ),
            "train": cfg.train.model_copy(update={"module_file": _absolute(cfg.train.module_file)}),
            "validate_": cfg.validate_.model_copy(
                update={
                    "previous_statistics": _absolute(cfg.validate_.previous_statistics),
                    "serving_statistics": _absolute(cfg.validate_.serving_statistics),
                }
            ),
            "batch_predict": cfg.batch_predict.model_copy(
                update={
                    key: _absolute(getattr(cfg.batch_predict, key)) for key in ("input", "output")
                }
            ),
            "monitor": cfg.monitor.model_copy(
                update={
                    key: _absolute(getattr(cfg.monitor, key))
                    for key in ("output_dir", "labels", "training_statistics")
                }
            ),
        }
    )


def _absolute(path: str | None) -> str | None:
    if path is None or fileio.is_remote(path):
        return path
    return os.path.abspath(path)


def to_yaml(cfg: PipelineConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(by_alias=True, mode="json"), sort_keys=False)
