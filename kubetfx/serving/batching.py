"""Dynamic batching: requests that arrive together share one model call.

TF Serving's batching, in the same terms (`serving.batching`): requests for the same version
and signature queue up; a batch closes when it holds `max_batch_size` rows or `timeout_ms`
after its first request arrived, whichever comes first; at most `max_enqueued_batches`
batches wait per queue (more is a 503 that says so). One model call per batch on the
server's executor; each request gets back exactly its own rows.

Unlike TF Serving, a request never waits while the model is idle: a batch also closes at
once when fewer than `max_in_flight` batches of its queue are running, and when a running
batch finishes. So a lone request pays no timeout, and under load the requests that arrive
during one model call go together into the next (`max_in_flight: 0` gives TF Serving's
behaviour: wait for a full batch or the timeout).

A request larger than max_batch_size is never split: it runs as a batch of its own. Inputs
are concatenated along the first (batch) axis, which every signature of an exported model
has; outputs are split back the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import numpy as np

from kubetfx.errors import RequestError


@dataclasses.dataclass
class _Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    future: asyncio.Future


class _Queue:
    """Requests for one (version, signature), and the task that turns them into batches."""

    def __init__(self, batcher: Batcher, key):
        self.batcher, self.key = batcher, key
        self.pending: list[_Pending] = []
        self.rows = 0
        self.batches = 0  # closed batches waiting for or running their model call
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task | None = None


class Batcher:
    """`await batcher.call(key, inputs, rows)` -> that request's outputs, from a shared call of
    `run(key, inputs)` (an awaitable running the model on concatenated inputs)."""

    def __init__(
        self,
        run: Callable[[object, dict[str, np.ndarray]], Awaitable[dict[str, np.ndarray]]],
        max_batch_size: int,
        timeout_ms: float,
        max_enqueued_batches: int,
        max_in_flight: int = 1,
    ):
        self.run, self.max_rows = run, max_batch_size
        self.max_in_flight = max_in_flight
        self.timeout = timeout_ms / 1000
        self.max_batches = max_enqueued_batches
        self.queues: dict[object, _Queue] = {}
        self.calls = 0  # model calls made, for tests and metrics

    async def call(self, key, inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        if rows >= self.max_rows:  # a full batch by itself: no reason to wait
            return await self._run(key, inputs)
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = _Queue(self, key)
        if queue.batches >= self.max_batches:
            raise RequestError(
                f"the server is overloaded: {queue.batches} batches are already waiting for "
                "this model (serving.batching.max_enqueued_batches); retry later",
                503,
            )
        future = asyncio.get_running_loop().create_future()
        if queue.rows + rows > self.max_rows:
            self._close(queue)  # this request would overflow the open batch: close it first
        queue.pending.append(_Pending(inputs, rows, future))
        queue.rows += rows
        if queue.rows >= self.max_rows or queue.batches < self.max_in_flight:
            self._close(queue)
        elif len(queue.pending) == 1:  # the first of a new batch starts its clock
            loop = asyncio.get_running_loop()
            loop.call_later(self.timeout, self._close_if_open, queue, queue.pending)
        return await future

    async def _run(self, key, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        return await self.run(key, inputs)

    def _close_if_open(self, queue: _Queue, batch: list[_Pending]) -> None:
        if queue.pending is batch:  # still the same open batch: its time is up
            self._close(queue)

    def _close(self, queue: _Queue) -> None:
        if not queue.pending:
            return
        batch, queue.pending, queue.rows = queue.pending, [], 0
        queue.batches += 1
        asyncio.get_running_loop().create_task(self._execute(queue, batch))

    async def _execute(self, queue: _Queue, batch: list[_Pending]) -> None:
        try:
            if len(batch) == 1:
                outputs = await self._run(queue.key, batch[0].inputs)
                _resolve(batch[0].future, outputs)
                return
            names = batch[0].inputs.keys()
            joined = {n: np.concatenate([p.inputs[n] for p in batch]) for n in names}
            outputs = await self._run(queue.key, joined)
            start = 0
            for pending in batch:
                end = start + pending.rows
                _resolve(pending.future, {k: v[start:end] for k, v in outputs.items()})
                start = end
        except Exception as e:  # one bad row fails the shared call: retry each on its own
            if len(batch) == 1:
                _fail(batch[0].future, e)
                return
            for pending in batch:
                try:
                    _resolve(pending.future, await self._run(queue.key, pending.inputs))
                except Exception as own:
                    _fail(pending.future, own)
        finally:
            queue.batches -= 1
            if queue.pending and queue.batches < self.max_in_flight:
                self._close(queue)  # what arrived during this call goes next


def _resolve(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
