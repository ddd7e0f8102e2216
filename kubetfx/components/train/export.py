"""Export a SavedModel whose two serving signatures both embed the transform graph.

- `serving_default`: raw features as named [batch] tensors, what a JSON client sends.
  A NaN or an empty string means "missing" (imputed exactly as in training). Integer
  features are taken as float64 (exact up to 2**53) so that they, too, can be missing.
- `serving_tf_example`: serialized tf.Example, what TFMA and batch jobs feed.

Both go through the same tf.Transform layer, so there is no training-serving skew.
Outputs: classification -> probabilities [batch, classes], class_ids, classes;
regression -> predictions [batch].
"""

from __future__ import annotations

from kubetfx.components.contracts import SERVING_DEFAULT, SERVING_TF_EXAMPLE


def _to_sparse(values, dtype):
    """[batch] dense -> [batch, 1] SparseTensor of `dtype` without the missing entries."""
    import tensorflow as tf

    if values.dtype == tf.string:
        present = tf.not_equal(values, "")
    else:
        present = tf.logical_not(tf.math.is_nan(values))
    rows = tf.where(present)
    indices = tf.concat([rows, tf.zeros_like(rows)], axis=1)
    batch = tf.shape(values, out_type=tf.int64)[0]
    kept = tf.cast(tf.boolean_mask(values, present), dtype)
    return tf.sparse.SparseTensor(indices, kept, [batch, 1])


def _raw_dtype(dtype):
    import tensorflow as tf

    return tf.float64 if dtype.is_integer else dtype


def signatures(model, tft_output, task):
    """The serving signatures for `model` (trained on tft_output's transformed features)."""
    import tensorflow as tf

    model.tft_layer = tft_output.transform_features_layer()  # tracked: saved with the model
    raw_spec = tft_output.raw_feature_spec()
    raw_spec.pop(task.label, None)  # not in the SERVING environment
    classes = tf.constant(list(task.classes)) if task.is_classification else None

    def predict(raw_features):
        transformed = model.tft_layer(raw_features)
        transformed.pop(task.label, None)
        output = model(transformed)
        if not task.is_classification:
            return {"predictions": tf.squeeze(output, axis=-1)}
        class_ids = tf.argmax(output, axis=-1)
        return {
            "probabilities": output,
            "class_ids": class_ids,
            "classes": tf.gather(classes, class_ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_examples(serialized):
        return predict(tf.io.parse_example(serialized, raw_spec))

    raw_inputs = {
        name: tf.TensorSpec([None], _raw_dtype(spec.dtype), name=name)
        for name, spec in raw_spec.items()
    }

    @tf.function(input_signature=[raw_inputs])
    def serve_raw(features):
        return predict(
            {name: _to_sparse(value, raw_spec[name].dtype) for name, value in features.items()}
        )

    return {
        SERVING_DEFAULT: serve_raw.get_concrete_function(),
        SERVING_TF_EXAMPLE: serve_tf_examples.get_concrete_function(),
    }


def save(model, tft_output, task, path: str) -> None:
    model.save(path, save_format="tf", signatures=signatures(model, tft_output, task))
