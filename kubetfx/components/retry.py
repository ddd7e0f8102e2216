"""Retry a network call with exponential backoff, on transient errors only.

Transient: the request may succeed if sent again unchanged - a connection that failed or
timed out, HTTP 408/429/500/502/503/504 (from urllib, the Kubernetes API, KFP's API client or
Google's clients). Anything else (a 400 for a bad request, 401/403, 404, 409) is raised at
once: sending it again would only repeat the answer. Used by the calls the steps make to other
services: the monitor's alert webhook, the KServe and Vertex AI deploys, KFP API reads.
"""

from __future__ import annotations

import logging
import time
import urllib.error
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("kubetfx.retry")
T = TypeVar("T")
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def status_of(error: BaseException) -> int | None:
    """The HTTP status an error carries, whichever client raised it."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code
    for attribute in ("status", "code"):  # KubeError, ApiException; google.api_core
        value = getattr(error, attribute, None)
        if isinstance(value, int):
            return value
    return None


def transient(error: BaseException) -> bool:
    status = status_of(error)
    if status is not None:
        return status in TRANSIENT_STATUSES
    # No answer at all: refused, reset, timed out, a name that did not resolve (yet); urllib3's
    # own connection errors (under the Kubernetes and KFP clients) say the same.
    if isinstance(error, ConnectionError | TimeoutError | urllib.error.URLError):
        return True
    return type(error).__module__.startswith("urllib3") and status is None


def with_retries(
    call: Callable[[], T],
    what: str,
    attempts: int = 4,
    first_wait: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """call(), again after 1, 2, 4... seconds while it fails transiently; at most `attempts`
    tries. The last error (or the first one that is not transient) is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as e:
            if attempt == attempts or not transient(e):
                raise
            wait = first_wait * 2 ** (attempt - 1)
            log.warning(
                "%s failed (%s: %s); retry %d of %d in %g s",
                what, type(e).__name__, e, attempt, attempts - 1, wait,
            )  # fmt: skip
            sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises


def post_json(
    url: str,
    body: dict,
    what: str,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """POST `body` as JSON, sent again while the answer is transient (with_retries)."""
    import json
    import urllib.request

    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )

    def post() -> None:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()

    with_retries(post, what, sleep=sleep)
