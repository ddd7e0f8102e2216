"""Push target 'vertex': a new Model version on Vertex AI, deployed to an Endpoint as a canary.

`deploy` uploads the pushed version as a new version of the parent model (the model named
push.model_name in the project, or push.vertex.parent_model), then deploys it to the
Endpoint vertex.endpoint with push.canary_percent of the traffic; the models already there
share the rest in their current proportions. A deployment that fails leaves the Endpoint as
it was (Vertex applies a deploy and its traffic split together, or not at all).
`promote` gives the newest deployed model all traffic and undeploys the others; `rollback`
gives the previous one all traffic and undeploys the newest.
"""

from __future__ import annotations

import json
import time

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.gcp import aiplatform, api_errors, vertex_serving_image
from kubetfx.components.registry import ModelRegistry
from kubetfx.components.retry import with_retries
from kubetfx.errors import ConfigError, DeployFailed


def canary_split(current: dict[str, int], canary_percent: int) -> dict[str, int]:
    """Traffic split with the new model ("0", as Vertex names the model being deployed) at
    canary_percent and the current models scaled to the rest, largest remainders first."""
    live = {k: v for k, v in current.items() if v > 0}
    if not live or canary_percent == 100:
        return {"0": 100}
    rest, total = 100 - canary_percent, sum(live.values())
    exact = {k: v * rest / total for k, v in live.items()}
    split = {k: int(v) for k, v in exact.items()}
    # Largest remainder first; on a tie the larger model, then the id (deterministic).
    order = sorted(exact, key=lambda k: (split[k] - exact[k], -live[k], k))
    for key in order[: rest - sum(split.values())]:
        split[key] += 1
    return {"0": canary_percent, **split}


def card_overview(registry: ModelRegistry, version: int) -> str:
    """The overview line of the version's model card (the Vertex model's description); the
    card's JSON, Markdown and HTML are inside the version, so in the uploaded artifact_uri."""
    path = registry.card_path(version)
    if not fileio.exists(path):
        return f"{registry.model_name} version {version} (pushed without a model card)"
    return json.loads(fileio.read_text(path))["model_details"]["overview"]


class VertexTarget:
    """Deploy, promote and roll back on one Endpoint. `sdk` is google.cloud.aiplatform (a
    fake of the same calls in tests); nothing is sent until a method is called."""

    def __init__(self, cfg: PipelineConfig, sdk=None, credentials=None, sleep=time.sleep):
        for key, value in (
            ("vertex.project", cfg.vertex.project),
            ("vertex.region", cfg.vertex.region),
        ):
            if not value:
                raise ConfigError(
                    f"{key}: required for push.destination 'vertex'; set it in the config"
                )
        self.cfg, self.sdk, self.sleep = cfg, sdk or aiplatform(), sleep
        # Set by the push step: evaluate's overall metrics, imported as the new version's
        # model evaluation. After a deploy: the uploaded version and the endpoint it is on.
        self.evaluation: dict | None = None
        self.uploaded, self.deployed_to = None, None
        self.where = {
            "project": cfg.vertex.project,
            "location": cfg.vertex.region,
            "credentials": credentials,
        }

    def serving_image(self) -> str:
        return vertex_serving_image(
            self.sdk, self.cfg.push.vertex.serving_image, self.cfg.vertex.region
        )

    def _find(self, kind, display_name: str):
        found = kind.list(filter=f'display_name="{display_name}"', **self.where)
        return found[0] if found else None

    def endpoint(self, create: bool = False):
        name = self.cfg.vertex.endpoint
        endpoint = self._find(self.sdk.Endpoint, name)
        if endpoint is None:
            if not create:
                raise ConfigError(f"vertex.endpoint: no endpoint named {name!r} in the project")
            endpoint = self.sdk.Endpoint.create(
                display_name=name, **self._request_logging(), **self.where
            )
        return endpoint

    def _request_logging(self) -> dict:
        """Request-response logging to BigQuery (serving.request_log.bigquery_table), what
        `kubetfx monitor` reads with source 'vertex_bigquery'. Vertex sets it when the endpoint
        is created; an existing endpoint keeps its own."""
        request_log = self.cfg.serving.request_log
        if not request_log.bigquery_table:
            return {}
        return {
            "enable_request_response_logging": True,
            "request_response_logging_sampling_rate": request_log.sample_rate,
            "request_response_logging_bq_destination_table": f"bq://{request_log.bigquery_table}",
        }

    def deploy(self, registry: ModelRegistry, version: int) -> str:
        push = self.cfg.push
        name = push.model_name
        image = self.serving_image()
        overview = card_overview(registry, version)
        with api_errors(DeployFailed, f"Vertex AI deployment of {name} version {version}"):
            parent = push.vertex.parent_model or getattr(
                self._find(self.sdk.Model, name), "resource_name", None
            )
            # Each call is sent again while Vertex answers 429/5xx or not at all: a request
            # it refused so started nothing (kubetfx/components/retry.py).
            model = with_retries(
                lambda: self.sdk.Model.upload(
                    display_name=name,
                    artifact_uri=registry.version_dir(version),
                    serving_container_image_uri=image,
                    parent_model=parent,
                    is_default_version=True,
                    version_aliases=[f"v{version}"],
                    labels={"kubetfx-version": str(version)},
                    # The card's one line; its files travel in the artifact (assets.extra).
                    description=overview,
                    version_description=overview,
                    sync=True,
                    **self.where,
                ),
                f"Vertex AI: upload {name} version {version}",
                sleep=self.sleep,
            )
            self.uploaded = model
            if self.evaluation is not None:  # before any traffic moves: a failure stops here
                from kubetfx.components.contracts import headline
                from kubetfx.components.push.vertex_lineage import import_evaluation

                overall = self.evaluation
                import_evaluation(
                    self.sdk, model, self.cfg.vertex.region, overall, headline(overall),
                    self.where["credentials"],
                )  # fmt: skip
            endpoint = self.endpoint(create=True)
            self.deployed_to = endpoint
            split = canary_split(dict(endpoint.traffic_split or {}), push.canary_percent)
            with_retries(
                lambda: endpoint.deploy(
                    model=model,
                    deployed_model_display_name=f"{name}-v{version}",
                    traffic_split=split,
                    machine_type=push.vertex.machine_type,
                    min_replica_count=push.vertex.min_replicas,
                    max_replica_count=push.vertex.max_replicas,
                    sync=True,
                ),
                f"Vertex AI: deploy {name} version {version}",
                sleep=self.sleep,
            )
        return f"Vertex AI endpoint {self.cfg.vertex.endpoint}: version {version} at {split['0']}%"

    def change(self, action: str) -> dict:
        """The traffic split and undeployments `promote` or `rollback` makes (reads the
        Endpoint's deployed models; changes nothing)."""
        with api_errors(DeployFailed, f"reading Vertex AI endpoint {self.cfg.vertex.endpoint}"):
            endpoint = self.endpoint()
            deployed = sorted(endpoint.list_models(), key=lambda m: m.create_time, reverse=True)
        if len(deployed) < (1 if action == "promote" else 2):
            needs = "one" if action == "promote" else "a canary and a previous one"
            raise DeployFailed(
                f"{action}: endpoint {self.cfg.vertex.endpoint} has {len(deployed)} deployed "
                f"model(s); {action} needs {needs}"
            )
        newest, others = deployed[0].id, [m.id for m in deployed[1:]]
        if action == "promote":
            split, undeploy = {newest: 100}, others
        else:
            split, undeploy = {others[0]: 100}, [newest]
        return {
            "target": "vertex",
            "action": action,
            "endpoint": endpoint.resource_name,
            "traffic_split": split,
            "undeploy": undeploy,
        }

    def apply(self, change: dict) -> None:
        """Move the traffic first, then undeploy the models that no longer get any."""
        with api_errors(DeployFailed, f"{change['action']} on {change['endpoint']}"):
            endpoint = self.endpoint()
            endpoint.update(traffic_split=change["traffic_split"])
            for deployed_model_id in change["undeploy"]:
                endpoint.undeploy(deployed_model_id=deployed_model_id, sync=True)
