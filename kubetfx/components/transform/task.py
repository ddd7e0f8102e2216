"""What the model predicts: classification (with its classes) or regression, from the label."""

from __future__ import annotations

from kubetfx.components.contracts import Task, densify
from kubetfx.errors import ConfigError

__all__ = ["Task", "densify", "resolve"]


def resolve(
    requested: str, label: str, label_type: str, label_values: list | None, max_classes: int
) -> Task:
    """The task for this label.

    auto: a string label is a classification; a float label a regression; an integer label a
    classification when it has at most `max_classes` distinct values, else a regression.
    """
    is_text = label_type in ("string", "large_string", "binary")
    is_float = label_type.startswith(("double", "float", "halffloat", "decimal"))
    if requested == "auto":
        if is_text:
            requested = "classification"
        elif is_float or label_values is None or len(label_values) > max_classes:
            requested = "regression"
        else:
            requested = "classification"
    if requested == "regression":
        if is_text:
            raise ConfigError(
                f"train.task: 'regression' needs a numeric label, but {label!r} is {label_type}"
            )
        return Task("regression", label)
    if is_float:
        raise ConfigError(
            f"train.task: 'classification' needs a string or integer label, but {label!r} is "
            f"{label_type}; use task 'regression' or cast the label (data.column_types)"
        )
    if label_values is None or len(label_values) > max_classes:
        raise ConfigError(
            f"train.task: label {label!r} has more than {max_classes} distinct values; raise "
            "transform.max_classes or use task 'regression'"
        )
    if len(label_values) < 2:
        raise ConfigError(f"data.label: {label!r} has fewer than 2 classes: {label_values}")
    # Booleans were written as 0/1 integers by ingest.
    classes = tuple(str(int(v)) if isinstance(v, bool) else str(v) for v in label_values)
    return Task("classification", label, classes)
