"""The exit handler's work: post the run's final status to the webhook the secret names.

The URL comes from a secret, never from the config (which the Kubeflow UI and Vertex show):
on Kubeflow, kfp-kubernetes puts the Kubernetes Secret's value into $KUBETFX_NOTIFY_URL; on
Vertex AI the step reads the Secret Manager secret with its own credentials. The post is sent
again on transient errors; a webhook that stays down is logged and does not fail the run's
exit handler (the run's own state is already decided).
"""

from __future__ import annotations

import json
import logging
import os

from kubetfx.components.notify.config import NotifyConfig
from kubetfx.components.retry import post_json, with_retries

log = logging.getLogger("kubetfx.notify")
URL_VARIABLE = "KUBETFX_NOTIFY_URL"


def message(*, pipeline: str, status) -> dict:
    """The report: which run, how it ended and, when it failed, the error (naming the step)."""
    return {
        "pipeline": pipeline,
        "run": status.pipeline_job_resource_name,
        "state": status.state,
        "error_code": status.error_code,
        "error_message": status.error_message or "",
    }


def secret_manager_name(secret: str, project: str | None) -> str:
    """The resource of the secret's latest version."""
    if secret.startswith("projects/"):
        return secret if "/versions/" in secret else f"{secret}/versions/latest"
    if not project:
        raise ValueError(f"notify.secret {secret!r}: give projects/P/secrets/S or vertex.project")
    return f"projects/{project}/secrets/{secret}/versions/latest"


def url_from_secret_manager(name: str, session=None) -> str:
    """The secret's value, through Secret Manager's REST API with the step's credentials."""
    import base64

    if session is None:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        session = AuthorizedSession(credentials)
    url = f"https://secretmanager.googleapis.com/v1/{name}:access"
    response = with_retries(lambda: _checked(session.get(url, timeout=30)), f"read {name}")
    return base64.b64decode(response.json()["payload"]["data"]).decode().strip()


def _checked(response):
    if response.status_code >= 400:
        error = OSError(f"Secret Manager answered {response.status_code}: {response.text[:300]}")
        error.status = response.status_code  # transient or not, as for any HTTP answer
        raise error
    return response


def run(*, cfg: NotifyConfig, project: str | None, report: dict) -> bool:
    """Post `report`; True when the webhook took it."""
    url = os.environ.get(URL_VARIABLE)
    try:
        if not url and cfg.secret:
            url = url_from_secret_manager(secret_manager_name(cfg.secret, project))
        if not url:
            log.error("notify: no webhook URL ($%s unset and no notify.secret)", URL_VARIABLE)
            return False
        post_json(url, report, "notify webhook")
    except Exception as e:  # no credentials, a bad secret, a dead hook: the run's state stands
        log.error("notify: the final status was not delivered: %s", e)
        return False
    log.warning("notify: %s", json.dumps(report))
    return True
