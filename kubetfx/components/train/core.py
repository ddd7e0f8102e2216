"""Trainer: tf.data from the transformed TFRecords, a tf_keras model, a distribution strategy.

One entry point (`run`) for every strategy: on one device, several GPUs (mirrored), several
workers (multi_worker: MultiWorkerMirroredStrategy, cluster from TF_CONFIG) or TPUs. Every
worker runs the same code; only the chief's export is kept.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig, TransformConfig
from kubetfx.components.contracts import Task
from kubetfx.components.module_file import load_module_fn
from kubetfx.components.train import export
from kubetfx.components.train.config import TrainConfig
from kubetfx.components.train.model import ModelContext
from kubetfx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class TrainResult:
    strategy: str
    replicas: int
    epochs: int
    final_metrics: dict[str, float]
    is_chief: bool

    def metadata(self, backend: str) -> dict:
        """The Model artifact's metadata (what the Kubeflow UI shows)."""
        return {
            "framework": "tensorflow",
            "backend": backend,
            "strategy": self.strategy,
            "replicas": self.replicas,
            "epochs": self.epochs,
            **{k: round(v, 6) for k, v in self.final_metrics.items()},
        }


@dataclasses.dataclass(frozen=True)
class FnArgs:
    """What a user's run_fn(fn_args) receives (the TFX Trainer contract, trimmed)."""

    train_files: str
    eval_files: str
    transform_output: str
    schema_path: str
    serving_model_dir: str
    model_run_dir: str
    task: Task
    config: TrainConfig
    context: ModelContext


def _tf_config() -> dict:
    return json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")


def make_strategy(cfg: TrainConfig):
    """(kind, tf.distribute strategy) for what the config asks (auto: what the machine has)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    kind = cfg.strategy
    if kind == "auto":
        cluster = _tf_config().get("cluster", {})
        if cfg.tpu or os.environ.get("TPU_NAME"):
            kind = "tpu"
        elif sum(len(v) for k, v in cluster.items() if k in ("chief", "worker")) > 1:
            kind = "multi_worker"
        elif len(gpus) > 1:
            kind = "mirrored"
        else:
            kind = "one_device"
    if kind == "one_device":
        return kind, tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if kind == "mirrored":
        return kind, tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        if not _tf_config().get("cluster"):
            raise ConfigError(
                "train.strategy: 'multi_worker' needs TF_CONFIG describing the cluster "
                "(set by Vertex AI or the GKE launcher); use 'auto' or 'one_device' locally"
            )
        return kind, tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=cfg.tpu or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return kind, tf.distribute.TPUStrategy(resolver)


def is_chief() -> bool:
    task = _tf_config().get("task", {})
    return task.get("type", "chief") == "chief" or (
        task.get("type") == "worker"
        and task.get("index", 0) == 0
        and "chief" not in _tf_config().get("cluster", {})
    )


def dataset(pattern: str, feature_spec: dict, label: str, batch_size: int, train: bool, seed: int):
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {pattern}")
    data = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if train:
        data = data.shuffle(10_000, seed=seed, reshuffle_each_iteration=True).repeat()
    data = data.batch(batch_size).map(
        lambda records: tf.io.parse_example(records, feature_spec),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    data = data.map(_split_label(label), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    # Shard by element, not file: a split may be a single file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)


def _split_label(label: str):
    """(features, label) with the rows whose label is missing dropped (-1 index or NaN)."""
    import tensorflow as tf

    def split(features):
        target = features.pop(label)
        keep = tf.logical_not(tf.math.is_nan(target)) if target.dtype.is_floating else target >= 0
        return {k: tf.boolean_mask(v, keep) for k, v in features.items()}, tf.boolean_mask(
            target, keep
        )

    return split


def model_context(tft_output, task: Task, cfg: TrainConfig, tcfg: TransformConfig):
    """Model inputs from the transformed features: floats are numeric, integers are ids.

    The number of ids comes from tf.Transform's own annotation (vocabulary + OOV, buckets),
    so a user's preprocessing_fn works too, as long as it uses tft analyzers for its ids.
    """
    import tensorflow as tf

    numeric, categorical = [], {}
    for name, spec in sorted(tft_output.transformed_feature_spec().items()):
        if name == task.label:
            continue
        if spec.dtype == tf.float32:
            numeric.append(name)
        elif name in tcfg.hash_buckets:
            categorical[name] = tcfg.hash_buckets[name]
        else:
            try:
                categorical[name] = tft_output.num_buckets_for_transformed_feature(name)
            except ValueError as e:
                raise ConfigError(
                    f"transform: feature {name!r} is an integer without a known number of ids; "
                    "produce it with a tft analyzer (vocabulary, bucketize) or give a "
                    "train.module_file with build_model(ctx)"
                ) from e
    return ModelContext(numeric, categorical, task, cfg, dict(cfg.hyperparameters))


def _seed(cfg: TrainConfig) -> None:
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    if cfg.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(cfg.mixed_precision)


def run(
    *,
    transformed: dict[str, str],
    graph_uri: str,
    schema_path: str,
    task: Task,
    train_rows: int,
    cfg: TrainConfig,
    tcfg: TransformConfig,
    model_dir: str,
    model_run_dir: str,
) -> TrainResult:
    """Train and export to model_dir; TensorBoard logs go to model_run_dir."""
    import tensorflow_transform as tft
    import tf_keras as keras

    from kubetfx.components.train import model as default_model

    _seed(cfg)
    kind, strategy = make_strategy(cfg)
    tft_output = tft.TFTransformOutput(graph_uri)
    ctx = model_context(tft_output, task, cfg, tcfg)
    chief = is_chief()
    # Every worker must save (collective ops), but only the chief's copy is the model.
    target = model_dir if chief else tempfile.mkdtemp(prefix="worker-model-")
    if cfg.module_file and _has(cfg.module_file, "run_fn"):
        run_fn = load_module_fn(cfg.module_file, "run_fn", "train.module_file")
        run_fn(
            FnArgs(
                train_files=transformed["train"],
                eval_files=transformed["eval"],
                transform_output=graph_uri,
                schema_path=schema_path,
                serving_model_dir=target,
                model_run_dir=model_run_dir,
                task=task,
                config=cfg,
                context=ctx,
            )
        )
        return TrainResult(kind, strategy.num_replicas_in_sync, 0, {}, chief)
    builder = (
        load_module_fn(cfg.module_file, "build_model", "train.module_file")
        if cfg.module_file
        else default_model.build
    )
    spec = tft_output.transformed_feature_spec()
    train_data = dataset(transformed["train"], spec, task.label, cfg.batch_size, True, cfg.seed)
    eval_data = dataset(transformed["eval"], spec, task.label, cfg.batch_size, False, cfg.seed)
    with strategy.scope():
        model = builder(ctx)
    steps = cfg.steps_per_epoch or max(1, -(-train_rows // cfg.batch_size))
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.early_stopping_patience, restore_best_weights=True
        ),
        keras.callbacks.TensorBoard(log_dir=model_run_dir if chief else target + "-logs"),
    ]
    uploaded = os.environ.get("AIP_TENSORBOARD_LOG_DIR")  # a Vertex job with vertex.tensorboard
    if chief and uploaded:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=uploaded))
    history = model.fit(
        train_data,
        validation_data=eval_data,
        epochs=cfg.epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=2,
    )
    export.save(model, tft_output, task, target)
    final = {k: float(v[-1]) for k, v in history.history.items() if v}
    epochs = len(history.history.get("loss", []))
    return TrainResult(kind, strategy.num_replicas_in_sync, epochs, final, chief)


def run_from_artifacts(
    *,
    cfg: PipelineConfig,
    transformed_uri: str,
    graph_uri: str,
    schema_uri: str,
    model_dir: str,
    model_run_dir: str,
) -> TrainResult:
    """The trainer entry point shared by the KFP component and `python -m kubetfx.components.train`
    (what each worker process runs in multi-worker training)."""
    from kubetfx.components.contracts import SCHEMA_FILE, TRANSFORMED_PREFIX, read_rows, read_task

    patterns = {
        split: fileio.join(transformed_uri, f"Split-{split}", f"{TRANSFORMED_PREFIX}*.gz")
        for split in ("train", "eval")
    }
    schema_path = fileio.join(schema_uri, SCHEMA_FILE)
    task = read_task(graph_uri)
    result = run(
        transformed=patterns,
        graph_uri=graph_uri,
        schema_path=schema_path,
        task=task,
        train_rows=read_rows(transformed_uri)["train"],
        cfg=cfg.train,
        tcfg=cfg.transform,
        model_dir=model_dir,
        model_run_dir=model_run_dir,
    )
    if result.is_chief:
        # The request contract travels with the model to the registry and the server.
        import tensorflow_data_validation as tfdv

        from kubetfx.serving import contract

        schema = tfdv.load_schema_text(schema_path)
        contract.write(contract.from_schema(schema, task.label), model_dir)
    return result


def _has(path: str, name: str) -> bool:
    return f"def {name}(" in fileio.read_text(path)
