from importlib import resources

from kubetfx.components.config_loader import load_config


def test_the_shipped_example_config_is_valid():
    path = resources.files("kubetfx.pipelines") / "defaults" / "example.yaml"
    cfg = load_config(str(path))
    assert cfg.data.label == "species"
    assert cfg.beam.pipeline_args[1] == "--direct_running_mode=multi_processing"
