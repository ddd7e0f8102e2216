"""checkov (Kubernetes, Dockerfile and GitHub Actions policies) finds nothing in infra/.

checkov runs once per session, offline (no platform download, no update check), over a copy
of infra/ in which the workflow templates also sit under .github/workflows/: checkov only
treats files there as workflows. Every skip must carry a written reason.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from tests.infra.files import (
    DOCKER,
    INFRA,
    K8S,
    MIN_REASON_CHARS,
    SKIP_COMMENT_RE,
    WORKFLOWS,
    run_checkov,
    workflow_files,
    yaml_docs,
)

FRAMEWORKS = ("kubernetes", "dockerfile", "github_actions")
# Scanned beside infra/ to prove the harness reports failures: a root, privileged pod.
CANARY = "/_canary/"
CANARY_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: canary, namespace: default}
spec:
  containers:
    - name: c
      image: busybox:latest
      securityContext: {privileged: true, runAsUser: 0}
"""


@pytest.fixture(scope="session")
def checkov_reports(tmp_path_factory) -> dict[str, dict[str, Any]]:
    tree = tmp_path_factory.mktemp("checkov")
    shutil.copytree(INFRA, tree / "infra")
    (tree / ".github" / "workflows").mkdir(parents=True)
    for workflow in workflow_files():
        shutil.copy(workflow, tree / ".github" / "workflows" / workflow.name)
    (tree / CANARY.strip("/")).mkdir()
    (tree / CANARY.strip("/") / "pod.yaml").write_text(CANARY_POD)
    return run_checkov(tree, FRAMEWORKS)


def test_checkov_scanned_every_framework(checkov_reports):
    assert set(checkov_reports) == set(FRAMEWORKS)
    for framework, report in checkov_reports.items():
        assert report["summary"]["parsing_errors"] == 0, framework
        # Not vacuous: checks ran on this framework's files.
        assert report["summary"]["passed"] > 0, framework
    docs = [d for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml" for d in yaml_docs(p)]
    # checkov scans a Deployment's pod template as a resource of its own.
    objects = len(docs) + sum(d["kind"] == "Deployment" for d in docs)
    assert checkov_reports["kubernetes"]["summary"]["resource_count"] == objects + 1  # canary
    assert checkov_reports["dockerfile"]["summary"]["resource_count"] == len(
        list(DOCKER.glob("*.Dockerfile"))
    )


def _failed(checkov_reports) -> list[dict[str, Any]]:
    return [
        check
        for report in checkov_reports.values()
        for check in report["results"].get("failed_checks", [])
    ]


def test_checkov_reports_the_canary(checkov_reports):
    failed = {c["check_id"] for c in _failed(checkov_reports) if c["file_path"].startswith(CANARY)}
    assert {"CKV_K8S_16", "CKV_K8S_40"} <= failed  # privileged; root user


def test_checkov_finds_no_failed_check(checkov_reports):
    failures = [
        f"{check['check_id']} {check['check_name']}: {check['file_path']} {check['resource']}"
        for check in _failed(checkov_reports)
        if not check["file_path"].startswith(CANARY)
    ]
    assert not failures, "\n".join(failures)


def test_every_checkov_skip_gives_a_reason(checkov_reports):
    skips = [
        check
        for report in checkov_reports.values()
        for check in report["results"].get("skipped_checks", [])
    ]
    for check in skips:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert reason != "No comment provided" and len(reason) >= MIN_REASON_CHARS, (
            f"{check['check_id']} skipped in {check['file_path']} without a reason"
        )


# checkov.io/skipN: CKV_K8S_xx=reason (manifest annotations).
_ANNOTATION_RE = re.compile(r"^checkov\.io/skip\d+$")


def test_skip_annotations_and_comments_are_written_with_reasons():
    for path in sorted(INFRA.rglob("*")):
        if not path.is_file() or path.suffix == ".py":
            continue
        for match in SKIP_COMMENT_RE.finditer(path.read_text()):
            assert len((match.group(2) or "").strip()) >= MIN_REASON_CHARS, (
                f"{path.relative_to(INFRA)}: checkov:skip={match.group(1)} has no reason"
            )
    for path in [*K8S.rglob("*.yaml"), *WORKFLOWS.glob("*.yaml")]:
        for doc in yaml_docs(path):
            annotations = (doc.get("metadata") or {}).get("annotations") or {}
            for key, value in annotations.items():
                if _ANNOTATION_RE.match(key):
                    check, _, reason = str(value).partition("=")
                    assert check.startswith("CKV") and len(reason.strip()) >= MIN_REASON_CHARS, (
                        f"{path.relative_to(INFRA)}: {key}: {value!r} needs CHECK=reason"
                    )
