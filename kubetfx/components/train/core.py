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


def dataset(
    pattern: str,
    feature_spec: dict,
    label: str,
    batch_size: int,
    train: bool,
    seed: int,
    in_memory_below_mb: float = 64.0,
):
    """Batches of (features, label) from the transformed TFRecords (GZIP) matching `pattern`,
    the rows whose label is missing dropped; for training, shuffled with `seed` and repeated.

    A split smaller on disk than `in_memory_below_mb` (and of dense features only) is read,
    parsed and filtered once and held in memory as tensors: every later pass is a reshuffle
    (one permutation per pass, from `seed` and the pass number) cut into batches, which takes
    almost no CPU from the model. A larger split is streamed from the files on every pass.
    Either way each worker of a multi-worker strategy reads the whole split in the same order
    and keeps its share of the batches (AutoShardPolicy.DATA: a split may be a single file).
    """
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {pattern}")
    data = None
    if _fits_in_memory(files, feature_spec, in_memory_below_mb):
        data = _in_memory(files, feature_spec, label, batch_size, train, seed)
    if data is None:
        data = _streamed(files, feature_spec, label, batch_size, train, seed)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)


def _fits_in_memory(files: list[str], feature_spec: dict, below_mb: float) -> bool:
    """Small enough on disk, and every feature dense (whole-split tensors can be cut into the
    same batches as parsing each batch gives; sparse or ragged ones cannot)."""
    import tensorflow as tf

    if not all(isinstance(f, tf.io.FixedLenFeature) for f in feature_spec.values()):
        return False
    return sum(tf.io.gfile.stat(f).length for f in files) < below_mb * 2**20


def _streamed(files: list[str], feature_spec: dict, label: str, batch_size, train, seed):
    """Read, shuffled through a 10,000-record buffer, batched, then parsed a batch at a time."""
    import tensorflow as tf

    data = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if train:
        data = data.shuffle(10_000, seed=seed, reshuffle_each_iteration=True).repeat()
    data = data.batch(batch_size).map(
        lambda records: tf.io.parse_example(records, feature_spec),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return data.map(_split_label(label), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _in_memory(files: list[str], feature_spec: dict, label: str, batch_size, train, seed):
    """The whole split parsed once into tensors (files in order), served from memory: for
    training an endless sequence of passes, each a fresh permutation of every row, for eval
    one pass in file order; None for a split with no labelled row (streamed as before)."""
    import tensorflow as tf

    parts = list(
        tf.data.TFRecordDataset(files, compression_type="GZIP")
        .batch(8192)
        .map(lambda records: tf.io.parse_example(records, feature_spec))
        .map(_split_label(label))
    )
    rows = {k: tf.concat([p[0][k] for p in parts], 0) for k in parts[0][0]} if parts else {}
    split = (rows, tf.concat([p[1] for p in parts], 0)) if parts else None
    del parts
    if split is None or split[1].shape[0] == 0:
        return None
    n = int(split[1].shape[0])
    whole = n // batch_size * batch_size  # rows in full batches; the rest is one short batch

    def batches(x):
        full = tf.nest.map_structure(
            lambda t: tf.reshape(t[:whole], [whole // batch_size, batch_size, *t.shape[1:]]), x
        )
        out = tf.data.Dataset.from_tensor_slices(full)
        if whole < n:
            out = out.concatenate(
                tf.data.Dataset.from_tensors(tf.nest.map_structure(lambda t: t[whole:], x))
            )
        return out

    if not train:
        return batches(split)
    base = tf.constant(seed, tf.int64)

    def one_pass(number):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([base, number])
        )
        return batches(tf.nest.map_structure(lambda t: tf.gather(t, order), split))

    return tf.data.Dataset.counter().flat_map(one_pass)


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
    memory = cfg.in_memory_below_mb
    train_data = dataset(
        transformed["train"], spec, task.label, cfg.batch_size, True, cfg.seed, memory
    )
    eval_data = dataset(
        transformed["eval"], spec, task.label, cfg.batch_size, False, cfg.seed, memory
    )
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
        from kubetfx.components.contracts import load_schema
        from kubetfx.serving import contract

        schema = load_schema(schema_path)  # the proto alone: TFDV takes seconds to import
        contract.write(contract.from_schema(schema, task.label), model_dir)
    return result


def _has(path: str, name: str) -> bool:
    return f"def {name}(" in fileio.read_text(path)
