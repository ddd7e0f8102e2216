"""KFP wrapper of configure: the typed run parameters of the cluster pipelines, applied."""

from kfp.dsl import Artifact, Output


def configure(
    config: str,
    run_parameters: Output[Artifact],
    data_path: str = "",
    label: str = "",
    epochs: int = -1,
    batch_size: int = -1,
    learning_rate: float = -1.0,
    min_accuracy: float = -1.0,
) -> str:
    import json

    from kubetfx.components import fileio
    from kubetfx.components.configure import core

    effective, given = core.apply(
        config=config, data_path=data_path, label=label, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, min_accuracy=min_accuracy,
    )  # fmt: skip
    record = {"given": given, "config": json.loads(effective)}
    fileio.write_text(run_parameters.path, json.dumps(record, indent=2))
    run_parameters.metadata.update({"given": given, "tfx_type": "RunParameters"})
    return effective
