"""The Google Cloud client set-up that training and push share: the Vertex AI SDK, imported
quietly, and Google's client errors turned into this project's errors."""

from __future__ import annotations

import contextlib
import warnings


def aiplatform():
    # The Google Cloud SDK warns about future Python and library versions on import; they
    # are not the user's to act on here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from google.cloud import aiplatform as sdk
    return sdk


TF_SERVING_VERSION = "2.16"  # the training TensorFlow; the prebuilt serving container to match


def vertex_serving_image(sdk, configured: str | None, region: str) -> str:
    """push.vertex.serving_image, else Vertex's prebuilt TensorFlow serving container of the
    training TF version (what a push to Vertex deploys, and infra validation serves there)."""
    from kubetfx.errors import ConfigError

    if configured:
        return configured
    try:
        return sdk.helpers.get_prebuilt_prediction_container_uri(
            "tensorflow", TF_SERVING_VERSION, region=region
        )
    except ValueError as e:
        raise ConfigError(
            f"push.vertex.serving_image: this google-cloud-aiplatform knows no prebuilt "
            f"TensorFlow {TF_SERVING_VERSION} serving container ({e}); set "
            "push.vertex.serving_image to one that serves the training TF version"
        ) from e


@contextlib.contextmanager
def api_errors(error: type[Exception], what: str):
    """Google client errors (and failed jobs) as `error`, saying what was attempted."""
    aiplatform()
    import google.api_core.exceptions
    import google.auth.exceptions

    try:
        yield
    except google.auth.exceptions.DefaultCredentialsError as e:
        raise error(f"{what}: no Google credentials ({e})") from e
    except (google.api_core.exceptions.GoogleAPIError, RuntimeError) as e:
        raise error(f"{what}: {e}") from e
