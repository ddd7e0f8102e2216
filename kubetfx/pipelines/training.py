"""The training pipeline: one KFP v2 definition for local runs, Kubeflow and Vertex."""
# No `from __future__ import annotations` here: kfp reads the pipeline signature types.

from kfp import dsl

from kubetfx.components.baseline.component import baseline
from kubetfx.components.config import PipelineConfig
from kubetfx.components.configure.component import configure
from kubetfx.components.evaluate.component import evaluate
from kubetfx.components.infra_validate.component import infra_validate
from kubetfx.components.ingest.component import data_fingerprint, ingest
from kubetfx.components.notify.component import notify
from kubetfx.components.push.component import push
from kubetfx.components.schema.component import schema
from kubetfx.components.statistics.component import statistics
from kubetfx.components.train.component import train, tune
from kubetfx.components.transform.component import transform
from kubetfx.components.validate.component import validate
from kubetfx.pipelines import targets

STAGES = (
    configure,
    data_fingerprint,
    ingest,
    baseline,
    statistics,
    schema,
    validate,
    transform,
    tune,
    train,
    evaluate,
    infra_validate,
    push,
    notify,
)
# Steps only the cluster targets have: the typed run parameters applied to the config, what
# makes caching see the data, and the exit handler.
CLUSTER_ONLY = (configure, data_fingerprint, notify)
# The run's baselines enter through importers (in the lineage graph as inputs of the run):
# task name -> (artifact class, importer display name, what it is).
IMPORTS = {
    "import-champion": (dsl.Model, "champion", "the registry's champion: evaluate's baseline"),
    "import-reference-schema": (
        dsl.Artifact,
        "reference-schema",
        "the dataset's reference schema: the schema step imports it instead of inferring",
    ),
}


def importer_pipeline(name: str):
    """A one-importer pipeline, used as a step: the artifact at its `uri` input, imported.

    Why a sub-pipeline: the URI is an upstream step's output (the baseline step's), and the
    Kubeflow Pipelines backend (2.5) resolves an importer's runtime URI only from an input of
    the DAG the importer is in, not from a sibling task's output. Wrapped in its own DAG, the
    URI is such an input; Vertex AI and kfp.local run the same shape.
    """
    kind, display, what = IMPORTS[name]

    @dsl.pipeline(name=name, description=f"Imports {what}.")
    def imported(uri: str) -> kind:
        task = dsl.importer(
            artifact_uri=uri, artifact_class=kind, reimport=False, metadata={"baseline": display}
        )
        task.set_display_name(display)
        return task.output

    return imported


def build(cfg: PipelineConfig, target: targets.Target = "local"):
    """The training pipeline for this config and compile target (local, kubeflow, vertex)."""
    # Lightweight components on the project image: the body imports the installed package,
    # so the same definition runs in the local venv (kfp.local) and in the cluster image.
    component = dsl.component(base_image=cfg.images.components, install_kfp_package=False)
    # Each op makes a task with the target's resources, accelerators, placement and caching.
    op = targets.configure_steps(cfg, target, {fn.__name__: component(fn) for fn in STAGES})
    imports = {name: importer_pipeline(name) for name in IMPORTS}

    def steps(config) -> None:
        # The champion and reference schema as the run starts, imported; the "none" marker
        # directory when there is none yet (kubetfx/components/baseline/core.py).
        found = op["baseline"](config=config)
        imported = {
            name: imports[name](uri=found.outputs[IMPORTS[name][1].replace("-", "_")])
            for name in IMPORTS
        }
        if target in targets.CLUSTER_TARGETS:  # never cached: a push or a reset moves them
            for task in (found, *imported.values()):
                task.set_caching_options(False)
        champion = imported["import-champion"].output
        reference_schema = imported["import-reference-schema"].output
        if target in targets.CLUSTER_TARGETS:
            # Never cached, so ingest's cache key (its inputs) sees a change of the data; an
            # unchanged rerun reuses ingest and, through its outputs, everything downstream.
            seen = op["data_fingerprint"](config=config).set_caching_options(False)
            examples = op["ingest"](config=config, data_fingerprint=seen.output)
        else:  # kfp.local caches nothing
            examples = op["ingest"](config=config)
        examples = examples.outputs["examples"]
        stats = op["statistics"](config=config, examples=examples).outputs["statistics"]
        inferred = op["schema"](
            config=config, statistics=stats, reference_schema=reference_schema
        ).outputs["schema"]
        validated = op["validate"](
            config=config,
            run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            examples=examples,
            statistics=stats,
            schema=inferred,
        )
        # Nothing is transformed or trained on data that failed validation.
        transformed = op["transform"](config=config, examples=examples, schema=inferred).after(
            validated
        )
        data = {
            "transformed_examples": transformed.outputs["transformed_examples"],
            "transform_graph": transformed.outputs["transform_graph"],
        }
        if cfg.tune.enabled:  # train takes the best values the search found
            searched = op["tune"](config=config, **data)
            data["best_hyperparameters"] = searched.outputs["best_hyperparameters"]
        trained = op["train"](config=config, schema=inferred, **data)
        evaluated = op["evaluate"](
            config=config,
            examples=examples,
            model=trained.outputs["model"],
            transform_graph=transformed.outputs["transform_graph"],
            schema=inferred,
            champion=champion,
        )
        # The real model server must load the candidate and answer like it before a push.
        infra = op["infra_validate"](
            config=config, model=trained.outputs["model"], examples=examples
        )
        op["push"](
            config=config,
            run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            model=trained.outputs["model"],
            blessing=evaluated.outputs["blessing"],
            infra_blessing=infra.outputs["infra_blessing"],
            evaluation=evaluated.outputs["evaluation"],
            examples=examples,
            # The model card lists the tuned values train used.
            **({"best_hyperparameters": data["best_hyperparameters"]} if cfg.tune.enabled else {}),
        )

    pipeline = dsl.pipeline(
        name=cfg.pipeline_name,
        description="kubetfx training: baseline, ingest, statistics, schema, validate, "
        "transform, train, evaluate, infra_validate, push.",
        pipeline_root=targets.pipeline_root(cfg, target),
    )
    default = targets.config_parameter(cfg, target)
    if target == "local":

        @pipeline
        def training(config: str = default) -> None:
            steps(config)  # kfp.local: no exit handlers; `kubetfx run` flags edit the config

        return training

    @pipeline
    def training(
        config: str = default,
        data_path: str = "",
        label: str = "",
        epochs: int = -1,
        batch_size: int = -1,
        learning_rate: float = -1.0,
        min_accuracy: float = -1.0,
    ) -> None:
        """The typed parameters are what a user edits per run in the Kubeflow UI or the
        Vertex console (empty or -1: the config's value); `config` stays the full override."""

        def configured() -> None:
            effective = op["configure"](
                config=config, data_path=data_path, label=label, epochs=epochs,
                batch_size=batch_size, learning_rate=learning_rate, min_accuracy=min_accuracy,
            )  # fmt: skip
            steps(effective.outputs["Output"])

        if cfg.notify.secret:
            # The run's final status (and the error naming the failed step) goes to the
            # webhook the secret names.
            report = op["notify"](config=config)
            if target == "kubeflow":
                targets.secret_as_env(report, cfg.notify.secret, cfg.notify.secret_key)
            with dsl.ExitHandler(report):
                configured()
        else:
            configured()

    return training
