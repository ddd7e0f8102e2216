"""What the model predicts: classification (with its classes) or regression, from the label."""

from __future__ import annotations

import dataclasses

from kubetfx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Task:
    kind: str  # "classification" | "regression"
    label: str
    classes: tuple[str, ...] = ()  # class names in index order (sorted), as strings

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, body: dict) -> Task:
        return cls(body["kind"], body["label"], tuple(body["classes"]))

    def encode_label(self, raw):
        """The label as the model sees it: a class index (int64) or a float32 target."""
        import tensorflow as tf

        if not self.is_classification:
            return densify(tf.cast(raw, tf.float32), float("nan"))
        # Integer classes are looked up by their text; the missing stay missing ("").
        text = raw if raw.dtype == tf.string else tf.sparse.map_values(tf.strings.as_string, raw)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(self.classes)), tf.range(self.num_classes, dtype=tf.int64)
            ),
            default_value=-1,
        )
        return table.lookup(densify(text, ""))


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


def densify(sparse, default):
    """A [batch] tensor from a [batch, <=1] SparseTensor, `default` where the value is missing."""
    import tensorflow as tf

    sparse = tf.sparse.SparseTensor(sparse.indices, sparse.values, [sparse.dense_shape[0], 1])
    return tf.squeeze(tf.sparse.to_dense(sparse, default_value=default), axis=1)
