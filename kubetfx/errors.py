"""Every exception kubetfx raises on purpose, in one tree. The CLI (kubetfx/cli.py `main`)
maps it to exit codes in one place:

    KubetfxError                 a failure kubetfx understands and can explain
    ├── ConfigError              exit 2  a flag or config value is wrong (names field and fix)
    ├── DataError                exit 2  the input data cannot be read or cannot be learnt from
    ├── ValidationFailed         exit 1  blocking anomalies (the report has the details)
    ├── TrainingFailed           exit 1  remote workers failed or timed out
    ├── DeployFailed             exit 1  the serving target refused or never became ready
    ├── SubmitFailed             exit 1  Kubeflow/Vertex refused a request or was unreachable
    ├── RegistryError            exit 1  a model version the registry does not hold
    ├── KubeError                exit 1  the Kubernetes API refused a request
    │   └── NotFound                     ... because the object does not exist (404)
    ├── RunNotFound              exit 1  the artifact API found no such run
    ├── StepUnavailable          exit 1  the step failed, did not run, or left no output
    ├── ServerFailed                     the model server process exited or never served
    └── ServingError                     raised inside the model server, answered over HTTP
        ├── RequestError                 a request the server refuses (4xx, `status`)
        └── LoadError                    a model version that cannot be loaded

Anything else escaping is a bug and keeps its traceback. This module imports nothing, so
the model server's own environment can use it.
"""


class KubetfxError(Exception):
    """Base class: a failure kubetfx understands and can explain to the user."""


class ConfigError(KubetfxError):
    """A config value or CLI flag is wrong. The message names the field, the value and the fix."""


class DataError(KubetfxError):
    """Input data cannot be read or does not fit what the config says about it."""


class ValidationFailed(KubetfxError):
    """Data validation found blocking anomalies; the report artifact has the details."""


class TrainingFailed(KubetfxError):
    """The workers did not all succeed (or did not finish in time); the message says which."""


class DeployFailed(KubetfxError):
    """The serving target refused the new model or it did not become ready; the previous
    model keeps serving and the registry's champion did not move."""


class SubmitFailed(KubetfxError):
    """The platform refused a request or could not be reached (exit 1)."""


class RegistryError(KubetfxError):
    """The model registry does not hold what was asked for (e.g. a version)."""


class KubeError(KubetfxError):
    """The Kubernetes API refused a request (the message has its status and reason)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class NotFound(KubeError):
    """The object does not exist (HTTP 404)."""


class RunNotFound(KubetfxError):
    """No run matches: the message lists what exists and how to name a run."""


class StepUnavailable(KubetfxError):
    """The artifact's step failed, did not run, or left no output."""


class ServerFailed(KubetfxError):
    """The model server process exited, failed to load the model, or was not ready in time;
    the message carries the reason and the tail of its log."""


class ServingError(KubetfxError):
    """Raised inside the model server; the server turns it into an HTTP answer."""


class RequestError(ServingError):
    """A request the server refuses; `status` is the HTTP code (TF Serving's mapping)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class LoadError(ServingError):
    """A model version that cannot be loaded (the server reports it as END with the reason)."""
