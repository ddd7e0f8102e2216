"""push's config: the registry and where a pushed model goes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from kubetfx.components.config_base import Section, dns_label


class KServePushConfig(Section):
    """push.destination 'kserve': an InferenceService in the cluster (RBAC: infra/k8s/rbac)."""

    namespace: str = Field("kubetfx-serving", description="Namespace of the InferenceService.")
    name: str | None = Field(None, description="InferenceService name. Default: the model name.")
    predictor: Literal["tensorflow", "server"] = Field(
        "tensorflow",
        description="'tensorflow': KServe's TF Serving runtime on the pushed version; "
        "'server': the project's model server image (images.server) on the registry.",
    )
    runtime_version: str = Field(
        "2.16.1", description="TF Serving version of the tensorflow predictor (the training TF)."
    )
    service_account: str = Field(
        "kubetfx-server", description="Account the predictor reads the model as."
    )
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(4, ge=1)
    cpu: str = Field("1", description="CPU request and limit of each replica.")
    memory: str = Field("2Gi", description="Memory request and limit of each replica.")
    ready_timeout_seconds: float = Field(
        600.0,
        ge=0,
        description="Wait this long for the new revision to be ready; if it is not, roll back "
        "and fail the step. 0: do not wait.",
    )

    _check_names = field_validator("namespace", "service_account")(dns_label)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        return None if value is None else dns_label(value)


class VertexPushConfig(Section):
    """push.destination 'vertex': a Vertex AI Model version deployed to an Endpoint (vertex.*)."""

    parent_model: str | None = Field(
        None,
        description="Model resource name to add versions to. Default: the project's model "
        "whose display name is push.model_name (created on the first push).",
    )
    serving_image: str | None = Field(
        None, description="Serving container. Default: Vertex's prebuilt TensorFlow 2.16 (CPU)."
    )
    machine_type: str = Field("n1-standard-2", description="Machine of each serving replica.")
    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(2, ge=1)


class PushConfig(Section):
    registry: str = Field("./model_registry", description="Model registry root, local or gs://.")
    model_name: str | None = Field(None, description="Default: the dataset name.")
    promote: bool = Field(
        True,
        description="Make the pushed version the champion. False pushes it as a challenger "
        "that the server can canary or shadow (serving.traffic).",
    )
    destination: Literal["local", "kserve", "vertex"] = Field(
        "local",
        description="After the registry push, also deploy to: 'kserve' (an InferenceService) "
        "or 'vertex' (a Vertex AI Endpoint). 'local': the registry only.",
    )
    canary_percent: int = Field(
        10,
        ge=1,
        le=100,
        description="Traffic share of a newly deployed model until `kubetfx promote`; 100 "
        "rolls it out at once. The first deployment always gets 100.",
    )
    warmup_rows: int = Field(
        8,
        ge=0,
        le=1000,
        description="Eval rows written as the version's warmup requests "
        "(assets.extra/tf_serving_warmup_requests, TF Serving's format), replayed by the "
        "server before the version answers. 0: none.",
    )
    kserve: KServePushConfig = Field(default_factory=KServePushConfig)
    vertex: VertexPushConfig = Field(default_factory=VertexPushConfig)

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data):
        if isinstance(data, dict) and "target" in data:
            raise ValueError(
                "push.target is now push.destination (where a pushed model goes: local, "
                f"kserve or vertex); rename the key, got target: {data['target']!r}"
            )
        return data

    @model_validator(mode="after")
    def _check_target(self) -> PushConfig:
        for name, section in (("kserve", self.kserve), ("vertex", self.vertex)):
            if section.min_replicas > section.max_replicas:
                raise ValueError(
                    f"push.{name}.min_replicas ({section.min_replicas}) must not exceed "
                    f"push.{name}.max_replicas ({section.max_replicas})"
                )
        remote = {"kserve": ("gs://", "s3://"), "vertex": ("gs://",)}.get(self.destination)
        if remote and not self.registry.startswith(remote):
            raise ValueError(
                f"push.registry: push.destination {self.destination!r} serves from a bucket the "
                f"cluster can read ({' or '.join(remote)}...), got {self.registry!r}"
            )
        return self


class CardOwner(Section):
    name: str = Field(description="A person or team that owns the model.")
    contact: str = Field("", description="How to reach them (an email, a channel, a URL).")


class CardRisk(Section):
    name: str = Field(description="An ethical or environmental risk of using the model.")
    mitigation_strategy: str = Field("", description="What is done about it.")


class ModelCardConfig(Section):
    """What the run cannot know about its model: the human half of the model card that push
    writes for every pushed version (Model Card Toolkit's `considerations` and owners). The
    rest of the card (data, metrics per slice, gate, checks, lineage) comes from the run."""

    intended_use: str = Field(
        "",
        description="What the model is for and who should use it (the card's use_cases). "
        "Empty: the card says the intended use is not stated.",
    )
    users: list[str] = Field(
        default_factory=list, description="Intended users, e.g. 'the churn analysts'."
    )
    limitations: list[str] = Field(
        default_factory=list,
        description="Known limitations (data it should not be used on, factors that degrade it); "
        "the card adds the ones the run measured (small eval slices).",
    )
    owners: list[CardOwner] = Field(default_factory=list, description="Who owns the model.")
    ethical_considerations: list[CardRisk] = Field(
        default_factory=list,
        description="Risks and their mitigations; the card adds one per "
        "evaluate.sensitive_features entry, with its fairness metrics.",
    )
    license: str | None = Field(
        None, description="SPDX identifier of the model's license (e.g. Apache-2.0), if any."
    )
