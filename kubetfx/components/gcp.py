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
