"""`kubetfx submit` and `kubetfx schedule`: run the pipeline on Kubeflow Pipelines or Vertex AI.

Both commands compile the pipeline for the target, then send it: as a new version of a named
KFP pipeline plus a run (or recurring run) in an experiment, or as a Vertex AI PipelineJob
(or PipelineJobSchedule). `--dry-run` prints the request as JSON and sends nothing.
Credentials and environment variables are read when a command runs, never at import.

This module stays light (argparse only) so that `kubetfx --help` does not import kfp or the
Google Cloud SDK; the target modules import them when used.
"""

from __future__ import annotations

import argparse

from kubetfx.components.config import PipelineConfig
from kubetfx.errors import ConfigError
from kubetfx.pipelines.targets import PIPELINES

CLOUD_TARGETS = ("kubeflow", "vertex")
# Flags that only mean something for one target (given for the other, they are a mistake).
TARGET_FLAGS = {
    "kubeflow": ("host", "namespace", "token_file", "iap_audience"),
    "vertex": ("project", "region"),
}


class _Renamed(argparse.Action):
    """An old flag: using it is an error (exit 2) that names the new one."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        kwargs.update(nargs="?", help=argparse.SUPPRESS)
        super().__init__(option_strings, dest=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        example = f" ({self.new} {values})" if values else ""
        parser.error(f"{option_string} is now {self.new}{example}")


def renamed_flag(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    parser.add_argument(old, action=_Renamed, new=new)


def add_cloud_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of `kubetfx submit` or `kubetfx schedule` (besides the config flags)."""
    parser.add_argument(
        "--platform",
        choices=CLOUD_TARGETS,
        required=True,
        help="kubeflow (Kubeflow Pipelines on Kubernetes) or vertex (Vertex AI Pipelines)",
    )
    renamed_flag(parser, "--target", "--platform")
    parser.add_argument("--pipeline", choices=PIPELINES, default="training")
    kfp = parser.add_argument_group("kubeflow")
    kfp.add_argument("--host", help="KFP API endpoint (kubeflow.host)")
    kfp.add_argument("--namespace", help="namespace of the experiment (kubeflow.namespace)")
    kfp.add_argument(
        "--token-file",
        help="file holding the bearer token, re-read before each request: a projected "
        "service account token in-cluster (default $KF_PIPELINES_SA_TOKEN_PATH, as kfp's "
        "client; else $KFP_TOKEN is the token)",
    )
    kfp.add_argument(
        "--iap-audience",
        help="OAuth client ID of an IAP-fronted KFP: send a Google ID token for it "
        "(from the ambient Google credentials)",
    )
    vertex = parser.add_argument_group("vertex")
    vertex.add_argument("--project", help="Google Cloud project (vertex.project)")
    vertex.add_argument("--region", help="Vertex AI region (vertex.region)")
    parser.add_argument("--experiment", help="experiment (kubeflow.experiment, vertex.experiment)")
    parser.add_argument(
        "--service-account",
        help="what the steps run as: a Kubernetes service account (kubeflow.service_account) "
        "or a Google service account email (vertex.service_account)",
    )
    if command == "submit":
        parser.add_argument(
            "--wait", action="store_true", help="follow the run; exit 0 only on success"
        )
        parser.add_argument("--poll-seconds", type=float, default=15.0, help="with --wait")
        parser.add_argument(
            "--timeout", type=float, default=24 * 3600.0, help="with --wait: give up after (s)"
        )
        parser.add_argument(
            "--no-cache",
            action="store_true",
            help="run every step again: no step's output is taken from KFP's cache",
        )
    else:
        parser.add_argument(
            "--cron", required=True, help='standard 5-field cron, e.g. "0 3 * * *" (UTC)'
        )
        parser.add_argument("--max-concurrency", type=int, default=1, help="runs at once")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the request as JSON; send nothing"
    )


def cmd_submit(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    _check_flags(args)
    if args.no_cache:
        cfg = without_cache(cfg)
    if args.platform == "kubeflow":
        from kubetfx.runners import submit_kubeflow as target
    else:
        from kubetfx.runners import submit_vertex as target
    return target.submit(cfg, args)


def without_cache(cfg: PipelineConfig) -> PipelineConfig:
    """cfg with caching off for every step (compiled into each task's caching option)."""
    cluster = cfg.cluster
    steps = {k: v.model_copy(update={"caching": False}) for k, v in cluster.steps.items()}
    default = cluster.default.model_copy(update={"caching": False})
    return cfg.model_copy(
        update={"cluster": cluster.model_copy(update={"default": default, "steps": steps})}
    )


def cmd_schedule(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    _check_flags(args)
    if args.max_concurrency < 1:
        raise ConfigError(f"--max-concurrency: must be at least 1, got {args.max_concurrency}")
    if args.platform == "kubeflow":
        from kubetfx.runners import submit_kubeflow as target
    else:
        from kubetfx.runners import submit_vertex as target
    return target.schedule(cfg, args)


def _check_flags(args: argparse.Namespace) -> None:
    for target, flags in TARGET_FLAGS.items():
        if target == args.platform:
            continue
        for flag in flags:
            if getattr(args, flag, None) is not None:
                option = "--" + flag.replace("_", "-")
                raise ConfigError(f"{option}: applies to --platform {target}, not {args.platform}")
