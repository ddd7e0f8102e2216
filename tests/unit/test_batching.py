"""Dynamic batching (kubetfx/serving/batching.py) with a stand-in model: rows in, rows out."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from kubetfx.errors import RequestError
from kubetfx.serving.batching import Batcher


class Model:
    """Doubles its input; a negative value is a bad row that fails the whole call."""

    def __init__(self, delay: float = 0.0):
        self.batch_sizes: list[int] = []
        self.delay = delay

    async def __call__(self, key, inputs):
        x = inputs["x"]
        self.batch_sizes.append(len(x))
        await asyncio.sleep(self.delay)
        if (x < 0).any():
            raise RequestError("negative value")
        return {"y": x * 2, "row": np.arange(len(x))}


def _gather(batcher: Batcher, requests: list[np.ndarray]):
    async def main():
        calls = [batcher.call("v1", {"x": r}, len(r)) for r in requests]
        return await asyncio.gather(*calls, return_exceptions=True)

    return asyncio.run(main())


def test_requests_arriving_together_share_calls_and_get_their_own_rows():
    model = Model()
    batcher = Batcher(
        model, max_batch_size=8, timeout_ms=50, max_enqueued_batches=4, max_in_flight=0
    )
    requests = [np.array([float(i)]) for i in range(10)]
    answers = _gather(batcher, requests)
    assert model.batch_sizes == [8, 2]  # a full batch at once, the rest at the timeout
    assert [a["y"].tolist() for a in answers] == [[2.0 * i] for i in range(10)]


def test_a_request_never_overflows_a_batch_or_is_split():
    model = Model()
    batcher = Batcher(
        model, max_batch_size=8, timeout_ms=20, max_enqueued_batches=4, max_in_flight=0
    )
    requests = [np.ones(3), np.ones(3), np.ones(3), np.ones(20)]
    answers = _gather(batcher, requests)
    assert sorted(model.batch_sizes) == [3, 6, 20]
    assert [len(a["y"]) for a in answers] == [3, 3, 3, 20]


def test_a_bad_row_fails_only_its_own_request():
    model = Model()
    batcher = Batcher(
        model, max_batch_size=8, timeout_ms=20, max_enqueued_batches=4, max_in_flight=0
    )
    answers = _gather(batcher, [np.array([1.0]), np.array([-1.0]), np.array([3.0])])
    assert answers[0]["y"].tolist() == [2.0] and answers[2]["y"].tolist() == [6.0]
    assert isinstance(answers[1], RequestError) and "negative" in str(answers[1])


def test_too_many_waiting_batches_is_a_503_that_says_so():
    slow = Batcher(
        Model(delay=0.3), max_batch_size=4, timeout_ms=1, max_enqueued_batches=1, max_in_flight=0
    )

    async def main():
        first = asyncio.ensure_future(slow.call("v1", {"x": np.array([1.0])}, 1))
        await asyncio.sleep(0.05)  # its batch is closed and running
        with pytest.raises(RequestError) as error:
            await slow.call("v1", {"x": np.array([2.0])}, 1)
        assert error.value.status == 503
        return await first

    assert asyncio.run(main())["y"].tolist() == [2.0]


def test_a_lone_request_waits_at_most_the_timeout():
    model = Model()
    batcher = Batcher(
        model, max_batch_size=64, timeout_ms=30, max_enqueued_batches=4, max_in_flight=0
    )

    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        await batcher.call("v1", {"x": np.array([1.0])}, 1)
        return loop.time() - start

    waited = asyncio.run(main())
    assert 0.025 <= waited < 1.0
    assert batcher.calls == 1


def test_a_lone_request_does_not_wait_when_the_model_is_idle():
    model = Model()
    batcher = Batcher(model, max_batch_size=64, timeout_ms=5000, max_enqueued_batches=4)

    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        await batcher.call("v1", {"x": np.array([1.0])}, 1)
        return loop.time() - start

    assert asyncio.run(main()) < 1.0  # far under the 5 s timeout


def test_requests_arriving_during_a_call_go_together_into_the_next():
    model = Model(delay=0.05)
    batcher = Batcher(model, max_batch_size=64, timeout_ms=5000, max_enqueued_batches=4)
    answers = _gather(batcher, [np.array([float(i)]) for i in range(10)])
    assert model.batch_sizes == [1, 9]  # the first runs at once, the rest wait for it only
    assert [a["y"].tolist() for a in answers] == [[2.0 * i] for i in range(10)]
