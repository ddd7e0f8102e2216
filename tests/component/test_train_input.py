"""train.core.dataset: a split held in memory gives the examples its TFRecords hold, each pass."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
import tensorflow as tf

from kubetfx.components.train import core

ROWS, BATCH, PASSES = 700, 32, 3
SPEC = {
    "x": tf.io.FixedLenFeature([], tf.float32),
    "pair": tf.io.FixedLenFeature([2], tf.int64),
    "kind": tf.io.FixedLenFeature([], tf.int64),  # a class index, -1 where the label is missing
    "amount": tf.io.FixedLenFeature([], tf.float32),  # a regression label, NaN where missing
}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """Two GZIP shards of tf.Examples, some labels missing; the pattern."""
    root = tmp_path_factory.mktemp("transformed")
    rng = np.random.default_rng(0)
    for shard in range(2):
        with tf.io.TFRecordWriter(str(root / f"part-{shard}.gz"), "GZIP") as writer:
            for i in range(shard, ROWS, 2):
                feature = {
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=[rng.normal()])),
                    "pair": tf.train.Feature(int64_list=tf.train.Int64List(value=[i, i % 7])),
                    "kind": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[-1 if i % 11 == 0 else i % 3])
                    ),
                    "amount": tf.train.Feature(
                        float_list=tf.train.FloatList(value=[np.nan if i % 13 == 0 else i / 10])
                    ),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
    return str(root / "part-*.gz")


def _key(features: dict, label) -> tuple:
    return (
        *(np.asarray(features[k]).tobytes() for k in sorted(features)),
        np.asarray(label).item(),
    )


def _direct(pattern: str, label: str) -> list[tuple]:
    """The labelled rows, one record at a time straight from the files (in file order)."""
    rows = []
    for record in tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(pattern)), "GZIP"):
        features = {k: v.numpy() for k, v in tf.io.parse_single_example(record, SPEC).items()}
        target = features.pop(label)
        if not (np.isnan(target) if label == "amount" else target < 0):
            rows.append(_key(features, target))
    return rows


def _rows(batches) -> list[tuple]:
    rows = []
    for features, labels in batches:
        features = {k: v.numpy() for k, v in features.items()}
        rows += [
            _key({k: v[i] for k, v in features.items()}, labels[i]) for i in range(len(labels))
        ]
    return rows


@pytest.mark.parametrize("label", ["kind", "amount"])
def test_every_pass_from_memory_is_the_labelled_split_reshuffled(split, label):
    expected = _direct(split, label)
    assert 0 < len(expected) < ROWS  # some labels are missing, and dropped
    per_pass = math.ceil(len(expected) / BATCH)
    data = core.dataset(split, SPEC, label, BATCH, True, seed=7)
    rows = _rows(data.take(PASSES * per_pass))
    passes = [rows[i * len(expected) : (i + 1) * len(expected)] for i in range(PASSES)]
    assert len(rows) == PASSES * len(expected)
    for one in passes:  # exactly the examples of the files, each once, on every pass
        assert collections.Counter(one) == collections.Counter(expected)
    assert len({tuple(one) for one in [expected, *passes]}) == PASSES + 1  # each pass reshuffled
    assert (
        _rows(core.dataset(split, SPEC, label, BATCH, True, 7).take(2 * per_pass))
        == rows[: 2 * len(expected)]
    )  # the seed fixes the order
    assert _rows(core.dataset(split, SPEC, label, BATCH, True, 8).take(per_pass)) != passes[0]


@pytest.mark.parametrize("label", ["kind", "amount"])
def test_memory_and_streaming_give_the_same_examples(split, label):
    expected = _direct(split, label)
    streamed = core.dataset(split, SPEC, label, BATCH, True, 7, in_memory_below_mb=0)
    rows: list[tuple] = []
    for batch in streamed:  # batches straddle passes here: cut after PASSES passes' rows
        rows += _rows([batch])
        if len(rows) >= PASSES * len(expected):
            break
    assert collections.Counter(rows[: PASSES * len(expected)]) == collections.Counter(
        expected * PASSES
    )
    for memory in (64.0, 0):  # eval: one pass in file order, either way
        once = core.dataset(split, SPEC, label, BATCH, False, 7, in_memory_below_mb=memory)
        assert _rows(once) == expected
        assert _rows(once) == expected  # and again, as validation does every epoch


def test_only_small_dense_splits_are_held_in_memory(split):
    files = sorted(tf.io.gfile.glob(split))
    assert core._fits_in_memory(files, SPEC, 64.0)
    assert not core._fits_in_memory(files, SPEC, 0)
    assert not core._fits_in_memory(files, {**SPEC, "tags": tf.io.VarLenFeature(tf.string)}, 64.0)
