"""The kustomizations under infra/k8s: they list real files, pin their remote bases, and build.

Builds use `kubectl kustomize` (kustomize is built into kubectl) and are skipped without it.
The Kubeflow Pipelines overlay's remote base is never fetched: it is swapped for a small local
stand-in holding the objects the overlay patches.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.files import K8S, is_remote, kustomization_files, manifest_files, yaml_docs

KFP = K8S / "kfp"
KFP_REMOTE_RE = re.compile(r"^github\.com/kubeflow/pipelines/manifests/kustomize/(.+)\?ref=(.+)$")


def _kustomization(path: Path) -> dict[str, Any]:
    (doc,) = yaml_docs(path)
    return doc


def _references(kustomization: dict[str, Any]) -> list[str]:
    return [*kustomization.get("resources", []), *kustomization.get("components", [])]


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    return kubectl


def _build(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("path", kustomization_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_kustomizations_list_only_files_that_exist(path):
    references = _references(_kustomization(path))
    assert references, f"{path} lists nothing"
    for reference in references:
        if is_remote(reference):
            continue
        target = path.parent / reference
        assert target.is_file() or (target / "kustomization.yaml").is_file(), (
            f"{path.relative_to(K8S)} lists {reference!r}, which does not exist"
        )


def test_every_manifest_is_in_a_kustomization():
    listed = {
        (path.parent / reference).resolve()
        for path in kustomization_files()
        for reference in _references(_kustomization(path))
        if not is_remote(reference)
    }
    orphans = [str(p.relative_to(K8S)) for p in manifest_files() if p.resolve() not in listed]
    assert not orphans


def test_the_project_kustomization_leaves_the_kfp_install_out():
    references = _references(_kustomization(K8S / "kustomization.yaml"))
    assert not any(is_remote(r) or r.startswith("kfp") for r in references)


def test_kfp_remote_bases_pin_one_release():
    refs = {}
    for path in (KFP / "kustomization.yaml", KFP / "cluster-scoped" / "kustomization.yaml"):
        (remote,) = [r for r in _references(_kustomization(path)) if is_remote(r)]
        match = KFP_REMOTE_RE.match(remote)
        assert match, f"{remote!r} is not a kubeflow/pipelines manifests URL"
        refs[match.group(1)] = match.group(2)
    assert set(refs) == {"env/platform-agnostic", "cluster-scoped-resources"}
    (release,) = set(refs.values())
    # A release tag (immutable), never a branch: 2.5.0 is the backend of the kfp 2.13 SDK.
    assert release == "2.5.0"


def test_the_project_kustomization_builds():
    objects = _build(K8S)
    listed = [
        doc for path in manifest_files() if KFP not in path.parents for doc in yaml_docs(path)
    ]
    assert len(objects) == len(listed)
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} == {
        (d["kind"], d["metadata"]["name"]) for d in listed
    }
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kustomize"


def _stand_in_base(directory: Path, overlay: dict[str, Any]) -> None:
    """The upstream objects the overlay patches, reduced to what the patches touch."""
    objects: list[dict[str, Any]] = []
    for entry in overlay["patches"]:
        (patch,) = yaml.safe_load_all(entry["patch"])
        meta = {"name": patch["metadata"]["name"], "namespace": "kubeflow"}
        if patch["kind"] == "ServiceAccount":
            objects.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
            continue
        containers = [
            {"name": c["name"], "image": "upstream:2.5.0"}
            for c in patch["spec"]["template"]["spec"]["containers"]
        ]
        labels = {"app": meta["name"]}
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta,
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": containers},
                    },
                },
            }
        )
    directory.mkdir()
    (directory / "objects.yaml").write_text(yaml.safe_dump_all(objects))
    (directory / "kustomization.yaml").write_text(yaml.safe_dump({"resources": ["objects.yaml"]}))


def test_kfp_overlay_fills_workload_identity_and_requests(tmp_path):
    overlay = _kustomization(KFP / "kustomization.yaml")
    _stand_in_base(tmp_path / "upstream", overlay)
    local = dict(
        overlay, resources=[r if not is_remote(r) else "upstream" for r in overlay["resources"]]
    )
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(local))
    shutil.copy(KFP / "params.yaml", tmp_path / "params.yaml")

    objects = {(o["kind"], o["metadata"]["name"]): o for o in _build(tmp_path)}

    # The params ConfigMap only feeds the replacements: it is never applied.
    assert ("ConfigMap", "kubetfx-kfp-params") not in objects
    (params,) = yaml_docs(KFP / "params.yaml")
    for account, key in [
        ("pipeline-runner", "pipelineRunnerServiceAccount"),
        ("ml-pipeline-ui", "uiServiceAccount"),
    ]:
        annotations = objects[("ServiceAccount", account)]["metadata"]["annotations"]
        assert annotations == {"iam.gke.io/gcp-service-account": params["data"][key]}
    deployments = [o for (kind, _), o in objects.items() if kind == "Deployment"]
    assert deployments
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}
