"""Turn `terraform output -json` into a kubetfx config file (`make tf-outputs ENV=dev`).

    terraform -chdir=terraform/envs/dev output -json \
        | python -m kubetfx.pipelines.terraform_outputs --out FILE

Reads the outputs of a terraform/envs/* root on stdin and writes the config keys they
determine (pipeline root, model registry, images, Kubeflow host, Vertex AI project, region,
service account and endpoint, request-log directory), optionally on top of a base config.
The result is validated exactly as `kubetfx --config FILE` will load it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import yaml

from kubetfx.components.config_loader import read_yaml, validate_config
from kubetfx.errors import ConfigError
from kubetfx.pipelines.images import REPOSITORIES, default_tag, image_name

# Terraform output -> the config key it fills (a dotted path), for plain string outputs.
KEYS = {
    "pipeline_root": "pipeline_root",
    "reference_root": "reference_root",
    "model_registry": "push.registry",
    "serving_log_dir": "serving.request_log.dir",
    "kfp_host": "kubeflow.host",
    "kfp_namespace": "kubeflow.namespace",
    "kfp_service_account": "kubeflow.service_account",
    "project_id": "vertex.project",
    "region": "vertex.region",
    "vertex_endpoint": "vertex.endpoint",
}
# Outputs used otherwise: images from the repository, vertex.service_account from the map.
OTHER = ("image_repository", "service_accounts")
REQUIRED = (*KEYS, *OTHER)


def _outputs(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"stdin is not `terraform output -json` ({e}); run "
            "`terraform -chdir=terraform/envs/ENV output -json "
            "| python -m kubetfx.pipelines.terraform_outputs ...`"
        ) from e
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            "terraform printed no outputs: apply the environment first "
            "(`terraform -chdir=terraform/envs/ENV apply`)"
        )
    missing = [name for name in REQUIRED if name not in raw]
    if missing:
        raise ConfigError(
            f"terraform output {', '.join(missing)} missing: the state predates these outputs or "
            "is not a terraform/envs/* root; run `terraform apply` in that environment "
            "(outputs.tf declares them) and retry"
        )
    return {name: e["value"] if isinstance(e, dict) else e for name, e in raw.items()}


def config_from_outputs(text: str, tag: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config mapping: `base` (a parsed config file) with the terraform values set."""
    outputs = _outputs(text)
    config: dict[str, Any] = json.loads(json.dumps(base or {}))  # a deep copy
    for name, dotted in KEYS.items():
        *parents, leaf = dotted.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = outputs[name]
    accounts = outputs["service_accounts"]
    if not isinstance(accounts, dict) or "pipelines" not in accounts:
        raise ConfigError(
            f"terraform output service_accounts: expected a map with a 'pipelines' email, got "
            f"{accounts!r}; apply the environment again"
        )
    config["vertex"]["service_account"] = accounts["pipelines"]
    if outputs.get("vertex_tensorboard"):  # null when the environment has none
        config["vertex"]["tensorboard"] = outputs["vertex_tensorboard"]
    repository = outputs["image_repository"]
    config["images"] = {kind: image_name(kind, tag, repository) for kind in REPOSITORIES}
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kubetfx.pipelines.terraform_outputs", description=__doc__
    )
    parser.add_argument("--out", required=True, help="config file to write")
    parser.add_argument("--base", help="a config file to start from (data, train, ... keys)")
    parser.add_argument(
        "--tag",
        help="image tag (default: the short sha of the git checkout in the current directory, "
        "as `make images` tags)",
    )
    args = parser.parse_args(argv)
    try:
        base = read_yaml(args.base) if args.base else None
        config = config_from_outputs(sys.stdin.read(), args.tag or default_tag(os.getcwd()), base)
        validate_config(config, "terraform outputs")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with open(args.out, "w") as f:
        f.write("# Written by `make tf-outputs` from terraform's outputs; rerun after apply.\n")
        yaml.safe_dump(config, f, sort_keys=False)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
