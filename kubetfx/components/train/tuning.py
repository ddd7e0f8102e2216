"""The tune step (TFX Tuner's role): a hyperparameter search over the model train builds.

A trial trains that model (the built-in one, or a train.module_file's build_model(ctx), which
sees the trial's values as ctx.hyperparameters) with the trial's values set on the train
config, on the transformed train split, with early stopping on the eval split, for at most
tune.epochs. Its result is the best value of tune.objective over its epochs. KerasTuner's
oracle (random search, Bayesian optimisation or Hyperband) chooses each trial's values from
tune.search_space; trials run through a KerasTuner tuner whose run_trial is ours, so the
model stays a tf_keras one and KerasTuner's distributed mode (backend gke) drives the same
trials.

The untuned config is measured too, as trial "untuned": the best values are the best of the
search and the starting point, so tuning never hands train something worse than it had on
this objective. They are written as best_hyperparameters.json; train applies them over its
config (`apply`). Train without tune trains as configured.

The objective is measured on the eval split, the split evaluate later scores: the tuned
model's evaluation is optimistic by the search (as with TFX's Tuner on the eval split).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

from kubetfx.components import fileio
from kubetfx.components.contracts import TUNED_FILE
from kubetfx.components.train.config import BUILT_IN_HYPERPARAMETERS, TrainConfig, TuneConfig
from kubetfx.errors import ConfigError

BEST_FILE = TUNED_FILE
UNTUNED = "untuned"
EPOCHS_METRIC = "kubetfx_epochs"  # reported with each trial's objective (distributed mode)


@dataclasses.dataclass(frozen=True)
class Trial:
    trial_id: str
    values: dict
    objective: float | None  # None: the trial failed
    epochs: int
    seconds: float
    error: str = ""


@dataclasses.dataclass(frozen=True)
class SearchResult:
    objective: str
    maximize: bool
    algorithm: str
    backend: str
    best: Trial
    trials: list[Trial]

    @property
    def untuned(self) -> Trial | None:
        return next((t for t in self.trials if t.trial_id == UNTUNED), None)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SearchResult:
        body = json.loads(text)
        trials = [Trial(**t) for t in body.pop("trials")]
        return cls(**{**body, "best": Trial(**body["best"]), "trials": trials})

    def metadata(self) -> dict:
        """The artifact's metadata (what the Kubeflow UI shows)."""
        untuned = self.untuned
        return {
            "objective": self.objective,
            "best_value": self.best.objective,
            "untuned_value": untuned.objective if untuned else None,
            "trials": len(self.trials),
            "best_hyperparameters": self.best.values,
        }


def apply(cfg: TrainConfig, values: dict) -> TrainConfig:
    """The train config with tuned values over it. units and layers become hidden_units:
    `layers` layers, the first `units` wide, each next one half as wide (as the default
    [32, 16]); values that are not built-in are left for a user's build_model."""
    plain = ("learning_rate", "batch_size", "embedding_dim", "dropout")
    update = {name: values[name] for name in plain if name in values}
    if "units" in values or "layers" in values:
        units = int(values.get("units", cfg.hidden_units[0] if cfg.hidden_units else 32))
        layers = int(values.get("layers", len(cfg.hidden_units) or 1))
        update["hidden_units"] = [max(1, units // 2**i) for i in range(layers)]
    for name in ("batch_size", "embedding_dim"):
        if name in update:
            update[name] = int(update[name])
    update["hyperparameters"] = dict(values)
    return TrainConfig.model_validate({**cfg.model_dump(), **update})


def untuned_values(cfg: TrainConfig, tune: TuneConfig) -> dict:
    """The config's own values of the searched hyperparameters (the starting point)."""
    own = {
        "learning_rate": cfg.learning_rate,
        "batch_size": cfg.batch_size,
        "embedding_dim": cfg.embedding_dim,
        "dropout": cfg.dropout,
        "units": cfg.hidden_units[0] if cfg.hidden_units else 0,
        "layers": len(cfg.hidden_units),
    }
    return {name: own[name] for name in tune.search_space if name in own}


def check_space(tune: TuneConfig, cfg: TrainConfig) -> None:
    """Names the built-in models do not take need a model that reads them."""
    unknown = sorted(set(tune.search_space) - set(BUILT_IN_HYPERPARAMETERS))
    if unknown and not cfg.module_file:
        raise ConfigError(
            f"tune.search_space: {unknown} are not hyperparameters of the built-in models "
            f"({', '.join(BUILT_IN_HYPERPARAMETERS)}); remove them, or give a train.module_file "
            "whose build_model(ctx) reads ctx.hyperparameters"
        )


def hyperparameters(tune: TuneConfig):
    """The search space as KerasTuner HyperParameters."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for name, spec in tune.search_space.items():
        if spec.type == "choice":
            hp.Choice(name, spec.values)
        elif spec.type == "int":
            step = int(spec.step) if spec.step else None
            hp.Int(name, int(spec.min), int(spec.max), step=step, sampling=spec.sampling)
        else:
            hp.Float(name, spec.min, spec.max, step=spec.step, sampling=spec.sampling)
    return hp


def oracle(tune: TuneConfig, seed: int):
    import keras_tuner as kt

    objective = kt.Objective(tune.objective, "max" if tune.maximize else "min")
    common = {
        "objective": objective,
        "hyperparameters": hyperparameters(tune),
        "seed": seed,
        "max_consecutive_failed_trials": 3,
    }
    if tune.algorithm == "random":
        return kt.oracles.RandomSearchOracle(max_trials=tune.max_trials, **common)
    if tune.algorithm == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(max_trials=tune.max_trials, **common)
    # Hyperband spends a budget of epochs, not trials: about max_trials full trainings.
    return kt.oracles.HyperbandOracle(max_epochs=tune.epochs, factor=3, **common)


def better(a: Trial, b: Trial, maximize: bool) -> Trial:
    """The better of two trials (a failed one is never better; a tie keeps a)."""
    if b.objective is None:
        return a
    if a.objective is None:
        return b
    if maximize:
        return b if b.objective > a.objective else a
    return b if b.objective < a.objective else a


def search(
    *, run_trial, tune: TuneConfig, cfg: TrainConfig, workdir: str, log=print
) -> SearchResult:
    """Run the untuned trial and tune.max_trials oracle trials, one after another, here.

    run_trial(values, epochs) -> (objective value, epochs run) trains one model."""
    import keras_tuner as kt

    check_space(tune, cfg)
    trials: list[Trial] = []

    def measured(trial_id: str, values: dict, epochs: int) -> Trial:
        started = time.monotonic()
        try:
            value, ran = run_trial(values, epochs)
        except (ValueError, ArithmeticError) as e:  # a diverging or invalid trial, not the step
            return Trial(trial_id, values, None, 0, time.monotonic() - started, str(e))
        return Trial(trial_id, values, value, ran, time.monotonic() - started)

    # KerasTuner's distributed mode (tune.backend gke): the chief serves the oracle, every
    # other process ("tuner0", ...) runs trials it asks the chief for.
    role = os.environ.get("KERASTUNER_TUNER_ID")
    chief = role is None or "chief" in role
    if chief:
        start = untuned_values(cfg, tune)
        trials.append(measured(UNTUNED, start, tune.epochs))
        log(f"tune: untuned {start}: {tune.objective} {trials[-1].objective}")

    class Tuner(kt.engine.base_tuner.BaseTuner):
        def run_trial(self, trial, *args, **kwargs):
            values = dict(trial.hyperparameters.values)
            epochs = int(values.pop("tuner/epochs", tune.epochs))
            for key in [k for k in values if k.startswith("tuner/")]:
                values.pop(key)
            done = measured(trial.trial_id, values, epochs)
            trials.append(done)
            log(f"tune: trial {len(trials) - 1}/{tune.max_trials} {values}: "
                f"{tune.objective} {done.objective}")  # fmt: skip
            if done.objective is None:
                raise kt.errors.FailedTrialError(done.error)
            return {tune.objective: done.objective, EPOCHS_METRIC: done.epochs}

    tuner = Tuner(
        oracle=oracle(tune, cfg.seed),
        directory=workdir,
        project_name="search",
        overwrite=True,
    )
    tuner.search()
    if not chief:
        return None  # a worker: the chief has every trial
    if role is not None:  # the chief: the workers' trials, as its oracle recorded them
        trials += [_from_oracle(t, tune.objective) for t in tuner.oracle.trials.values()]
    best = trials[0]
    for trial in trials[1:]:
        best = better(best, trial, tune.maximize)
    if best.objective is None:
        raise ConfigError(
            f"tune: every trial failed (first error: {trials[0].error}); check tune.search_space"
        )
    return SearchResult(tune.objective, tune.maximize, tune.algorithm, tune.backend, best, trials)


def _from_oracle(trial, objective: str) -> Trial:
    """A trial another process ran, from the chief oracle's record of it."""
    values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
    epochs = (
        trial.metrics.get_last_value(EPOCHS_METRIC) if trial.metrics.exists(EPOCHS_METRIC) else 0
    )
    value = trial.metrics.get_best_value(objective) if trial.metrics.exists(objective) else None
    error = "" if value is not None else f"{trial.status}: {trial.message or ''}".strip(": ")
    return Trial(trial.trial_id, values, value, int(epochs or 0), 0.0, error)


def write(result: SearchResult, output_uri: str) -> None:
    fileio.write_text(fileio.join(output_uri, BEST_FILE), result.to_json())


def read(uri: str) -> SearchResult:
    return SearchResult.from_json(fileio.read_text(fileio.join(uri, BEST_FILE)))


def trial_runner(*, cfg, transformed_uri: str, graph_uri: str, log=print):
    """run_trial(values, epochs) -> (objective, epochs run) on the run's transformed data."""
    import math

    import tensorflow_transform as tft
    import tf_keras as keras

    from kubetfx.components.contracts import TRANSFORMED_PREFIX, read_rows, read_task
    from kubetfx.components.module_file import load_module_fn
    from kubetfx.components.train import core
    from kubetfx.components.train import model as default_model

    tune = cfg.tune
    task = read_task(graph_uri)
    tft_output = tft.TFTransformOutput(graph_uri)
    spec = tft_output.transformed_feature_spec()
    files = {
        split: fileio.join(transformed_uri, f"Split-{split}", f"{TRANSFORMED_PREFIX}*.gz")
        for split in ("train", "eval")
    }
    rows = read_rows(transformed_uri)["train"]
    builder = (
        load_module_fn(cfg.train.module_file, "build_model", "train.module_file")
        if cfg.train.module_file
        else default_model.build
    )

    def run_trial(values: dict, epochs: int) -> tuple[float, int]:
        keras.backend.clear_session()
        trained = apply(cfg.train, values)
        core._seed(trained)
        ctx = core.model_context(tft_output, task, trained, cfg.transform)
        batch = trained.batch_size
        memory = trained.in_memory_below_mb
        train_data = core.dataset(
            files["train"], spec, task.label, batch, True, trained.seed, memory
        )
        eval_data = core.dataset(
            files["eval"], spec, task.label, batch, False, trained.seed, memory
        )
        model = builder(ctx)
        stop = keras.callbacks.EarlyStopping(
            monitor=tune.objective,
            mode="max" if tune.maximize else "min",
            patience=tune.early_stopping_patience,
        )
        history = model.fit(
            train_data,
            validation_data=eval_data,
            epochs=epochs,
            steps_per_epoch=max(1, -(-rows // batch)),
            callbacks=[stop],
            verbose=0,
        ).history
        if tune.objective not in history:
            raise ConfigError(
                f"tune.objective: {tune.objective!r} is not in the training history; "
                f"choose one of {sorted(history)}"
            )
        finite = [v for v in history[tune.objective] if math.isfinite(v)]
        if not finite:
            raise ArithmeticError(f"{tune.objective} was not finite in any epoch (diverged)")
        return (max if tune.maximize else min)(finite), len(history[tune.objective])

    return run_trial


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_html(result: SearchResult) -> str:
    """The tuning report: the objective of every trial as bars (the best one and the untuned
    starting point marked), and the table of trials; inline SVG, no script, ≤ 1,000 px."""
    import html

    from kubetfx.components import svg

    done = [t for t in result.trials if t.objective is not None]
    width, bar, pad = 900, 18, 150
    values = [t.objective for t in done]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    scale = (width - pad - 80) / ((high - min(low, 0.0)) or 1.0)
    rows = []
    for i, t in enumerate(done):
        y = 10 + i * (bar + 6)
        length = max(1.0, (t.objective - min(low, 0.0)) * scale)
        colour = (
            "#e37400" if t is result.best else ("#9aa0a6" if t.trial_id == UNTUNED else "#1a73e8")
        )
        label = html.escape(f"trial {t.trial_id}")
        rows.append(
            f'<text x="0" y="{y + 13}" font-size="12">{label}</text>'
            f'<rect class="bar" x="{pad}" y="{y}" width="{length:.1f}" height="{bar}" '
            f'fill="{colour}">'
            f"<title>{label}: {t.objective:.4g}</title></rect>"
            f'<text x="{pad + length + 4:.1f}" y="{y + 13}" font-size="12">{t.objective:.4g}</text>'
        )
    height = 20 + len(done) * (bar + 6)
    name = html.escape(result.objective)
    figure = (
        f'<svg id="tuning-objective" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
        f'{height}" width="{width}" role="img" font-size="12"><title>{name} per trial</title>'
        f"{''.join(rows)}</svg>"
    )
    names = sorted({k for t in result.trials for k in t.values})
    head = "".join(
        f"<th>{html.escape(n)}</th>"
        for n in ["trial", *names, result.objective, "epochs", "seconds", "error"]
    )
    body = []
    for t in result.trials:
        cells = [
            t.trial_id,
            *[t.values.get(n) for n in names],
            t.objective,
            t.epochs,
            t.seconds,
            t.error,
        ]
        style = ' style="background:#fde7c7"' if t is result.best else ""
        body.append(
            f"<tr{style}>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in cells) + "</tr>"
        )
    untuned = result.untuned
    gain = (
        f"; untuned {untuned.objective:.4g}"
        if untuned is not None and untuned.objective is not None
        else ""
    )
    direction = "higher" if result.maximize else "lower"
    title = f"Tuning: best {result.objective} {result.best.objective:.4g}{gain}"
    summary = (
        f"<p>{html.escape(result.algorithm)} search on {html.escape(result.backend)}, "
        f"{len(result.trials)} trials; {direction} is better. Best: trial "
        f"{html.escape(result.best.trial_id)} {html.escape(json.dumps(result.best.values))} "
        "(orange; the untuned config is grey).</p>"
    )
    table = svg.scroll(f"<table><tr>{head}</tr>{''.join(body)}</table>")
    return svg.page(title, summary + svg.figure(figure, f"{result.objective} per trial") + table)


ORACLE_ENV = "KUBETFX_ORACLE"  # host:port of replica 0, where the chief oracle listens


def _distributed(cfg, run_trial, output_uri: str) -> int:
    """One replica of a distributed search: its role from its index, as KerasTuner reads it."""
    import tempfile

    from kubetfx.components.train.gke_manifests import INDEX_ENV

    index = int(os.environ[INDEX_ENV])
    host, _, port = os.environ[ORACLE_ENV].rpartition(":")
    os.environ["KERASTUNER_TUNER_ID"] = "chief" if index == 0 else f"tuner{index - 1}"
    # The chief listens on every interface of its pod (KUBETFX_ORACLE_BIND: a test's loopback).
    bind = os.environ.get("KUBETFX_ORACLE_BIND", "0.0.0.0")
    os.environ["KERASTUNER_ORACLE_IP"] = bind if index == 0 else host
    os.environ["KERASTUNER_ORACLE_PORT"] = port
    with tempfile.TemporaryDirectory(prefix="kubetfx-tune-") as workdir:
        result = search(run_trial=run_trial, tune=cfg.tune, cfg=cfg.train, workdir=workdir)
    if result is not None:
        write(result, output_uri)
        print(f"tune: best {result.best.values}: {result.objective} {result.best.objective}")
    return 0


METRIC_FILE = "/tmp/hypertune/output.metrics"  # cloudml-hypertune's default; env overrides


def report_metric(objective: str, value: float, epochs: int) -> str:
    """Append a trial's result where Vertex AI's tuning service reads it (the JSON line
    cloudml-hypertune writes); return the path."""
    import os

    path = os.environ.get("CLOUD_ML_HP_METRIC_FILE", METRIC_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    line = {
        "timestamp": time.time(),
        "trial": os.environ.get("CLOUD_ML_TRIAL_ID", "0"),
        objective: str(value),
        "global_step": str(epochs),
    }
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")
    return path


def _typed(cfg, name: str, text: str):
    """A trial argument's value as its search-space type (Vertex passes text)."""
    spec = cfg.tune.search_space.get(name)
    if spec is not None and spec.type == "int":
        return int(float(text))
    try:
        number = float(text)
    except ValueError:
        return text
    return (
        int(number)
        if spec is not None and spec.type == "choice" and number.is_integer()
        else number
    )


def main(argv: list[str] | None = None) -> int:
    """One trial, as a Vertex AI tuning job runs it: `python -m kubetfx.components.train.tuning
    --config-json J --transformed-examples URI --transform-graph URI --learning_rate=0.01 ...`."""
    import argparse

    from kubetfx.components.config import PipelineConfig

    parser = argparse.ArgumentParser(prog="python -m kubetfx.components.train.tuning")
    parser.add_argument("--config-json", required=True)
    parser.add_argument("--transformed-examples", required=True)
    parser.add_argument("--transform-graph", required=True)
    parser.add_argument(
        "--distributed",
        metavar="OUTPUT_URI",
        help="KerasTuner's distributed mode (tune.backend gke): replica 0 serves the oracle "
        "and writes the result to OUTPUT_URI, the others run trials",
    )
    args, rest = parser.parse_known_args(argv)
    cfg = PipelineConfig.from_json(args.config_json)
    values = {}
    for item in rest:
        name, sep, text = item.removeprefix("--").partition("=")
        if not sep or name not in cfg.tune.search_space:
            parser.error(f"unexpected argument {item!r}: trial values come as --NAME=VALUE")
        values[name] = _typed(cfg, name, text)
    run_trial = trial_runner(
        cfg=cfg, transformed_uri=args.transformed_examples, graph_uri=args.transform_graph
    )
    if args.distributed:
        return _distributed(cfg, run_trial, args.distributed)
    value, epochs = run_trial(values, cfg.tune.epochs)
    path = report_metric(cfg.tune.objective, value, epochs)
    print(f"tune trial {values}: {cfg.tune.objective} {value} after {epochs} epochs -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
