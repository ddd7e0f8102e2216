"""The default tf_keras models for tabular data: a DNN, or wide-and-deep.

Inputs are the transformed features: z-scored floats for numerics and integer ids for
categoricals (vocabulary, hash or bucket ids), one scalar per example.
"""

from __future__ import annotations

import dataclasses

from kubetfx.components.contracts import Task
from kubetfx.components.train.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class ModelContext:
    """Everything a model builder needs; also what a user's build_model(ctx) receives."""

    numeric: list[str]
    categorical: dict[str, int]  # feature -> number of ids (vocabulary + OOV, or buckets)
    task: Task
    config: TrainConfig
    # A tune trial's (or the tuned) values, including any a user's search space adds.
    hyperparameters: dict = dataclasses.field(default_factory=dict)


def build(ctx: ModelContext):
    import tf_keras as keras

    cfg = ctx.config
    inputs = {name: keras.Input(shape=(), name=name, dtype="float32") for name in ctx.numeric}
    inputs.update(
        {name: keras.Input(shape=(), name=name, dtype="int64") for name in ctx.categorical}
    )
    deep = [keras.layers.Reshape((1,))(inputs[name]) for name in ctx.numeric]
    wide = []
    for name, size in ctx.categorical.items():
        embedded = keras.layers.Embedding(size, cfg.embedding_dim, name=f"{name}_embedding")
        deep.append(embedded(inputs[name]))
        if cfg.model == "wide_deep":
            one_hot = keras.layers.CategoryEncoding(
                size, output_mode="one_hot", name=f"{name}_1hot"
            )
            wide.append(one_hot(keras.layers.Reshape((1,))(inputs[name])))
    x = keras.layers.concatenate(deep) if len(deep) > 1 else deep[0]
    for units in cfg.hidden_units:
        x = keras.layers.Dense(units, activation="relu")(x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, seed=cfg.seed)(x)
    if wide:
        x = keras.layers.concatenate([x, *wide])
    # The output layer stays float32 under mixed precision, for numerically sound losses.
    if ctx.task.is_classification:
        output = keras.layers.Dense(ctx.task.num_classes, activation="softmax", dtype="float32")(x)
        loss, metrics = "sparse_categorical_crossentropy", ["sparse_categorical_accuracy"]
    else:
        output = keras.layers.Dense(1, dtype="float32")(x)
        loss, metrics = "mse", ["mae"]
    model = keras.Model(inputs=inputs, outputs=output)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=loss, metrics=metrics)
    return model
