"""Loaded model versions, kept in step with the registry (TF Serving's file-system source).

A poll reads each model's complete versions (numeric directories holding saved_model.pb, the
file the registry writes last; `.staging-*` directories are never looked at), works out the
versions the policy and the labels want, loads the new ones, and only then publishes a new
immutable `ModelView`. Requests read whichever view is current, so the old version answers
until the new one is loaded, and a version that fails to load is reported, never served.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from kubetfx.components import fileio
from kubetfx.components.config import ServingConfig
from kubetfx.components.registry import SAVED_MODEL, ModelRegistry
from kubetfx.errors import LoadError, RequestError
from kubetfx.serving import contract
from kubetfx.serving.contract import Contract, Feature
from kubetfx.serving.requests import SERVING_DEFAULT

log = logging.getLogger("kubetfx.serving")

AVAILABLE, LOADING, END = "AVAILABLE", "LOADING", "END"


@dataclasses.dataclass(frozen=True)
class Servable:
    """One loaded version: its signatures, their input specs and the request contract."""

    name: str
    version: int
    path: str
    signatures: dict[str, Any]
    contract: Contract
    loaded_in_seconds: float  # warmup included
    warmup_requests: int = 0  # replayed from assets.extra before it was served

    @property
    def features(self) -> list[Feature]:
        return self.contract.features

    def predict(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        fn = self.signatures[signature]
        specs = fn.structured_input_signature[1]
        tensors = {}
        for name, values in inputs.items():
            dtype = specs[name].dtype
            if dtype.is_integer and values.dtype.kind == "f" and np.isnan(values).any():
                raise RequestError(f"feature {name!r} cannot be null for this model (int input)")
            tensors[name] = tf.constant(values.astype(dtype.as_numpy_dtype, copy=False))
        return {k: v.numpy() for k, v in fn(**tensors).items()}

    def signature_defs(self) -> dict[str, dict]:
        """Inputs and outputs of each signature, named as TF Serving's metadata names them."""
        defs = {}
        for name, fn in self.signatures.items():
            outputs = fn.structured_outputs
            defs[name] = {
                "inputs": {k: _tensor_info(s) for k, s in fn.structured_input_signature[1].items()},
                "outputs": {k: _tensor_info(t) for k, t in outputs.items()},
                "method_name": "tensorflow/serving/predict",
            }
        return defs


def _tensor_info(spec) -> dict:
    from tensorflow.core.framework import types_pb2

    dims = [{"size": str(-1 if d is None else d)} for d in spec.shape.as_list()]
    dtype = types_pb2.DataType.Name(spec.dtype.as_datatype_enum)
    return {"dtype": dtype, "tensor_shape": {"dim": dims}}


def load_servable(name: str, version: int, path: str) -> Servable:
    """tf.saved_model.load the version; any failure is a LoadError naming the reason."""
    import tensorflow as tf

    start = time.perf_counter()
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # a truncated or foreign file: report it, keep serving the rest
        raise LoadError(f"{type(e).__name__}: {str(e).splitlines()[0][:300]}") from e
    signatures = dict(loaded.signatures)
    if SERVING_DEFAULT not in signatures:
        raise LoadError(f"no {SERVING_DEFAULT!r} signature (has {sorted(signatures)})")
    served = contract.read(path) or Contract(
        [
            Feature(k, _kind(s.dtype))
            for k, s in signatures[SERVING_DEFAULT].structured_input_signature[1].items()
        ]
    )
    # Keep `loaded` alive through the signatures' captured variables.
    signatures = {k: _Bound(v, loaded) for k, v in signatures.items()}
    servable = Servable(name, version, path, signatures, served, 0.0)
    replayed = _warm_up(servable)
    return dataclasses.replace(
        servable, loaded_in_seconds=time.perf_counter() - start, warmup_requests=replayed
    )


def _warm_up(servable: Servable) -> int:
    """Replay the version's warmup requests (assets.extra/tf_serving_warmup_requests) before
    it is served, as TF Serving does; a request that fails fails the load."""
    from kubetfx.serving import warmup

    try:
        requests = warmup.read(servable.path)
        for signature, inputs in requests:
            servable.predict(signature, inputs)
    except Exception as e:  # a corrupt file or a request the model refuses: not servable
        raise LoadError(f"warmup failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from e
    return len(requests)


class _Bound:
    """A concrete function that also holds the object it came from (its variables)."""

    def __init__(self, fn, owner):
        self._fn, self._owner = fn, owner
        self.structured_input_signature = fn.structured_input_signature
        self.structured_outputs = fn.structured_outputs
        self.captured_inputs = fn.captured_inputs  # e.g. the class-name constant (classify)

    def __call__(self, **kwargs):
        return self._fn(**kwargs)


def _kind(dtype) -> str:
    return "string" if dtype.name == "string" else "int" if dtype.is_integer else "float"


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    version: int
    state: str
    error: str = ""


@dataclasses.dataclass(frozen=True)
class ModelView:
    """What one model serves right now. Replaced whole, never mutated."""

    name: str
    servables: dict[int, Servable]
    statuses: dict[int, VersionStatus]
    champion: int | None = None
    challenger: int | None = None

    def latest(self) -> Servable | None:
        return self.servables[max(self.servables)] if self.servables else None


class ModelManager:
    """Polls the registry and keeps a `ModelView` per model. `refresh()` is one poll."""

    def __init__(
        self,
        cfg: ServingConfig,
        loader: Callable[[str, int, str], Servable] = load_servable,
    ):
        self.cfg = cfg
        self._loader = loader
        self._views: dict[str, ModelView] = {}
        self._failed: dict[tuple[str, int], float] = {}  # -> saved_model.pb mtime that failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0

    def view(self, name: str) -> ModelView | None:
        return self._views.get(name)

    def names(self) -> list[str]:
        return sorted(self._views)

    def ready(self) -> bool:
        return bool(self._views) and all(v.servables for v in self._views.values())

    def start(self) -> None:
        self._collect_garbage()
        self._thread = threading.Thread(target=self._loop, name="registry-poll", daemon=True)
        self._thread.start()

    def _collect_garbage(self) -> None:
        """At start, remove what killed pushes left in the registry (`kubetfx registry gc` with
        the default grace period: a younger leftover may be a push in progress and stays). A
        failure, e.g. a registry the server may only read, is logged and serving goes on."""
        try:
            for name in self._model_names():
                for item in ModelRegistry(self.cfg.registry, name).collect_garbage():
                    level = logging.WARNING if item.action == "failed" else logging.INFO
                    log.log(level, "registry gc: %s", item.describe())
        except Exception:
            log.warning("registry gc at start failed; serving anyway", exc_info=True)

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # a registry hiccup (GCS, a file removed mid-read): poll again
                log.exception("registry poll failed; serving the current versions")
            self._stop.wait(self.cfg.poll_seconds)

    def refresh(self) -> None:
        for name in self._model_names():
            self._refresh_model(name)
        self.polls += 1

    def _model_names(self) -> list[str]:
        if self.cfg.models:
            return list(self.cfg.models)
        root = self.cfg.registry
        if not fileio.exists(root):
            return []
        return sorted(
            e.rstrip("/") for e in fileio.listdir(root) if not e.startswith(".") and "." not in e
        )

    def _refresh_model(self, name: str) -> None:
        registry = ModelRegistry(self.cfg.registry, name)
        complete = registry.versions()
        old = self._views.get(name) or ModelView(name, {}, {})
        policy = set(self._policy(complete))
        champion, challenger = self._labels(registry, complete)
        wanted = policy | {v for v in (champion, challenger, old.champion) if v in complete}
        servables = {v: s for v, s in old.servables.items() if v in wanted}
        statuses = {v: s for v, s in old.statuses.items() if v in wanted}
        to_load = [v for v in sorted(wanted - servables.keys()) if not self._known_bad(registry, v)]
        if to_load:  # report LOADING while the current versions keep answering
            loading = {**statuses, **{v: VersionStatus(v, LOADING) for v in to_load}}
            self._views = {**self._views, name: dataclasses.replace(old, statuses=loading)}
        for version in to_load:
            statuses[version] = self._load(registry, version, servables)
        # A label moves only to a loaded version; until then the old champion keeps its label.
        if champion not in servables:
            champion = old.champion if old.champion in servables else None
        if challenger not in servables:
            challenger = None
        keep = policy | {champion, challenger}
        servables = {v: s for v, s in servables.items() if v in keep}
        statuses = {v: s for v, s in statuses.items() if v in keep or s.state == END}
        view = ModelView(name, servables, statuses, champion, challenger)
        if view != old:
            log.info(
                "%s: serving versions %s (champion %s, challenger %s)",
                name,
                sorted(servables),
                champion,
                challenger,
            )
        self._views = {**self._views, name: view}

    def _known_bad(self, registry: ModelRegistry, version: int) -> bool:
        """It failed to load and its saved_model.pb has not changed since: do not retry."""
        failed = self._failed.get((registry.model_name, version))
        return failed is not None and failed == _mtime(registry.version_dir(version))

    def _load(self, registry: ModelRegistry, version: int, servables: dict) -> VersionStatus:
        name, path = registry.model_name, registry.version_dir(version)
        mtime = _mtime(path)
        try:
            servables[version] = self._loader(name, version, path)
        except LoadError as e:
            self._failed[(name, version)] = mtime
            log.error("%s version %s failed to load and will not be served: %s", name, version, e)
            return VersionStatus(version, END, str(e))
        self._failed.pop((name, version), None)
        seconds = servables[version].loaded_in_seconds
        warmed = servables[version].warmup_requests
        log.info(
            "%s version %s loaded in %.1f s (%d warmup requests)", name, version, seconds, warmed
        )
        return VersionStatus(version, AVAILABLE)

    def _labels(self, registry: ModelRegistry, complete: list[int]):
        labels = self.cfg.labels
        if labels.champion == "registry":
            pointer = registry.champion()
            champion = pointer["version"] if pointer else None
        else:
            champion = labels.champion
        champion = champion if champion in complete else None
        if labels.challenger == "none" or champion is None:
            challenger = None
        elif labels.challenger == "latest":
            challenger = max((v for v in complete if v > champion), default=None)
        else:
            challenger = labels.challenger if labels.challenger in complete else None
        return champion, challenger

    def _policy(self, complete: list[int]) -> list[int]:
        policy = self.cfg.version_policy
        if policy.specific is not None:
            return [v for v in complete if v in policy.specific]
        return complete[-policy.latest :]


def _mtime(version_dir: str) -> float:
    path = fileio.join(version_dir, SAVED_MODEL)
    if fileio.is_remote(path):
        import tensorflow as tf

        return float(tf.io.gfile.stat(path).mtime_nsec)
    import os

    return os.stat(path).st_mtime_ns
