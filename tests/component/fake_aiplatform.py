"""A fake of the google.cloud.aiplatform calls kubetfx makes (push to Vertex, infra validation
on Vertex): no Vertex AI is reachable here. `assert_calls_match_the_real_sdk` binds every
recorded call to the real SDK's signatures, so a call the real SDK would reject fails a test.
An endpoint can be given a `backend` (a callable body -> (status, answer)) that answers its
rawPredict: the infra validation tests put the real model server there.
"""

from __future__ import annotations

import datetime
import inspect
import itertools
import json


class FakeAiplatform:
    """The aiplatform calls kubetfx makes, with Endpoints that keep their state. `serve`, when
    set, is called with a deployed model's upload arguments and returns the backend that
    answers the endpoint's rawPredict."""

    def __init__(self, serve=None):
        self.serve = serve
        self.calls: list[tuple[str, dict]] = []
        self.models: list[object] = []
        self.endpoints: list[FakeEndpoint] = []
        self.fail_deploy: Exception | None = None
        self.ids = itertools.count(1001)
        sdk = self

        class Model:
            @staticmethod
            def list(**kwargs):
                sdk.calls.append(("Model.list", kwargs))
                return [m for m in sdk.models if kwargs["filter"] == f'display_name="{m.name}"']

            @staticmethod
            def upload(**kwargs):
                sdk.calls.append(("Model.upload", kwargs))
                model = FakeModel(sdk, kwargs)
                sdk.models.append(model)
                return model

        class Endpoint:
            @staticmethod
            def list(**kwargs):
                sdk.calls.append(("Endpoint.list", kwargs))
                return [e for e in sdk.endpoints if kwargs["filter"] == f'display_name="{e.name}"']

            @staticmethod
            def create(**kwargs):
                sdk.calls.append(("Endpoint.create", kwargs))
                endpoint = FakeEndpoint(sdk, kwargs["display_name"])
                sdk.endpoints.append(endpoint)
                return endpoint

        class ModelServiceClient:  # the GAPIC client: kubetfx imports model evaluations
            def __init__(self, **kwargs):
                sdk.calls.append(("gapic.ModelServiceClient", kwargs))

            def import_model_evaluation(self, **kwargs):
                sdk.calls.append(("gapic.ModelServiceClient.import_model_evaluation", kwargs))
                if sdk.fail_evaluation is not None:
                    raise sdk.fail_evaluation
                return kwargs["model_evaluation"]

        from google.cloud.aiplatform import gapic  # the real request messages

        self.fail_evaluation: Exception | None = None
        self.gapic = type(
            "gapic",
            (),
            {"ModelServiceClient": ModelServiceClient, "ModelEvaluation": gapic.ModelEvaluation},
        )
        self.Model, self.Endpoint = Model, Endpoint


class FakeModel:
    def __init__(self, sdk: FakeAiplatform, upload: dict):
        self.sdk, self.upload = sdk, upload
        self.name, self.resource_name = upload["display_name"], "projects/p/models/77"
        self.version_id = str(len(sdk.models) + 1)

    def delete(self, **kwargs):
        self.sdk.calls.append(("Model.delete", kwargs))
        self.sdk.models.remove(self)


class _Response:  # requests.Response, as far as rawPredict's callers read it
    def __init__(self, status: int, answer):
        self.status_code, self._answer = status, answer
        self.text = answer if isinstance(answer, str) else json.dumps(answer)

    def json(self):
        return json.loads(self.text)


class FakeEndpoint:
    def __init__(self, sdk: FakeAiplatform, name: str):
        self.sdk, self.name = sdk, name
        self.resource_name = "projects/p/locations/europe-west4/endpoints/55"
        self.traffic_split: dict[str, int] = {}
        self.deployed: list[object] = []
        self.backend = None

    def raw_predict(self, **kwargs):
        self.sdk.calls.append(("Endpoint.raw_predict", kwargs))
        assert self.deployed, "rawPredict on an endpoint with no deployed model"
        return _Response(*self.backend(json.loads(kwargs["body"])))

    def undeploy_all(self, **kwargs):
        self.sdk.calls.append(("Endpoint.undeploy_all", kwargs))
        self.deployed, self.traffic_split = [], {}

    def delete(self, **kwargs):
        self.sdk.calls.append(("Endpoint.delete", kwargs))
        assert not self.deployed, "Vertex refuses to delete an endpoint with deployed models"
        self.sdk.endpoints.remove(self)

    def list_models(self):
        self.sdk.calls.append(("Endpoint.list_models", {}))
        return list(self.deployed)

    def deploy(self, **kwargs):
        self.sdk.calls.append(("Endpoint.deploy", kwargs))
        failure = self.sdk.fail_deploy  # an exception every time, or a list: one per call
        if isinstance(failure, list):
            failure = failure.pop(0) if failure else None
        if failure:
            raise failure
        deployed = type("DeployedModel", (), {})()
        deployed.id = str(next(self.sdk.ids))
        deployed.create_time = datetime.datetime(2026, 1, 1) + datetime.timedelta(
            minutes=len(self.deployed)
        )
        self.deployed.append(deployed)
        split = kwargs.get("traffic_split") or {"0": kwargs["traffic_percentage"]}
        self.traffic_split = {(deployed.id if k == "0" else k): v for k, v in split.items()}
        if self.sdk.serve is not None:
            self.backend = self.sdk.serve(kwargs["model"].upload)

    def update(self, **kwargs):
        self.sdk.calls.append(("Endpoint.update", kwargs))
        assert sum(kwargs["traffic_split"].values()) == 100
        self.traffic_split = dict(kwargs["traffic_split"])

    def undeploy(self, **kwargs):
        self.sdk.calls.append(("Endpoint.undeploy", kwargs))
        model_id = kwargs["deployed_model_id"]
        # As Vertex: a model that still gets traffic cannot be undeployed.
        assert not self.traffic_split.get(model_id), f"{model_id} still has traffic"
        self.deployed = [m for m in self.deployed if m.id != model_id]
        self.traffic_split.pop(model_id, None)


def assert_calls_match_the_real_sdk(calls):
    from kubetfx.components.gcp import aiplatform

    real = aiplatform()
    for name, kwargs in calls:
        function = real
        for part in name.split("."):  # Model.upload, gapic.ModelServiceClient...
            function = getattr(function, part)
        signature = inspect.signature(function)
        if "self" in signature.parameters:
            signature.bind(None, **kwargs)
        else:
            signature.bind(**kwargs)
