"""Static checks of terraform/: it parses, follows the project's rules, and checkov passes.

No terraform binary or cloud account is needed: every .tf file is parsed with the `hcl2`
package the lock installs: bc-python-hcl2, checkov's fork of python-hcl2 (both install the
same `hcl2` module, so the lock holds only the one checkov needs).
"""

from __future__ import annotations

import functools
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from kubetfx.components.resources import GPU_RESOURCE, TPU_RESOURCE
from kubetfx.pipelines import terraform_outputs
from tests.infra.files import (
    MIN_REASON_CHARS,
    ROOT,
    SKIP_COMMENT_RE,
    manifest_files,
    run_checkov,
    yaml_docs,
)

TF = ROOT / "terraform"
ENVS = ("dev", "prod")
TF_FILES = sorted(p for p in TF.rglob("*.tf") if ".terraform" not in p.parts)
MODULES = sorted(p.name for p in (TF / "modules").iterdir() if p.is_dir())


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f)


def value(raw: Any) -> Any:
    """An attribute's value: this parser wraps each one in a list."""
    while isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    return raw


def blocks(kind: str, root: Path = TF) -> list[tuple[Path, str, dict[str, Any]]]:
    """(file, name, body) of every `kind` block (variable, output, module) under root."""
    found = []
    for path in (p for p in TF_FILES if p.is_relative_to(root)):
        for entry in parse(path).get(kind, []):
            found += [(path, name, body) for name, body in entry.items()]
    return found


def resources(rtype: str) -> list[tuple[Path, str, dict[str, Any]]]:
    found = []
    for path in TF_FILES:
        for entry in parse(path).get("resource", []):
            found += [(path, name, body) for name, body in entry.get(rtype, {}).items()]
    return found


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TF)))
def test_every_tf_file_parses(path):
    assert isinstance(parse(path), dict)


def test_the_tree_has_every_module_and_env():
    assert set(MODULES) >= {
        "network", "gke", "storage", "artifact_registry", "iam", "vertex", "kubeflow",
        "project_services", "platform",
    }  # fmt: skip
    for env in ENVS:
        assert {"main.tf", "backend.tf", "versions.tf", "terraform.tfvars.example"} <= {
            p.name for p in (TF / "envs" / env).iterdir()
        }


def test_every_variable_is_typed_and_described():
    variables = blocks("variable")
    assert len(variables) > 50
    for path, name, body in variables:
        where = f"{path.relative_to(TF)}: variable {name}"
        assert "type" in body, f"{where} has no type"
        assert len(str(value(body.get("description", "")))) >= 10, f"{where} has no description"


# Literal identifiers: a project, bucket, registry path or email typed into the code.
_IDENTIFIER_RES = [
    re.compile(r"[\w.+-]+@[a-z0-9-]+\.[a-z.]+"),  # an email
    re.compile(r"gs://[a-z0-9]"),  # a bucket
    re.compile(r"projects/[a-z][-a-z0-9]{4,}"),  # a project in a resource name
    re.compile(r"-docker\.pkg\.dev/[a-z]"),  # an image repository of a project
    re.compile(r"example-(project|bucket)|my-project"),  # placeholders
]
_INTERPOLATION_RE = re.compile(r"\$\{[^}]*\}")


def literal_identifiers(text: str) -> list[str]:
    literal = _INTERPOLATION_RE.sub("", text)
    return [m.group(0) for r in _IDENTIFIER_RES for m in r.finditer(literal)]


def _strings(node: Any):
    if isinstance(node, dict):
        for item in node.values():
            yield from _strings(item)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def test_the_identifier_scan_finds_literals():
    assert literal_identifiers("gs://kubetfx-prod-models/x")
    assert literal_identifiers("ci@my-proj.iam.gserviceaccount.com")
    assert literal_identifiers("europe-west4-docker.pkg.dev/acme-ml/kubetfx")
    assert not literal_identifiers("gs://${module.storage.registry_bucket}/models")


def test_no_project_bucket_or_email_is_hard_coded():
    found = [
        f"{path.relative_to(TF)}: {hit}"
        for path in TF_FILES
        for string in _strings(parse(path))
        for hit in literal_identifiers(string)
    ]
    assert not found, "\n".join(found)
    for rtype in ("google_storage_bucket", "google_service_account"):
        for path, name, body in resources(rtype):
            ident = value(body.get("name", body.get("account_id")))
            assert "${" in ident, f"{path.relative_to(TF)}: {rtype}.{name} has a literal name"
    for path in TF_FILES:
        for entry in parse(path).get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    if "project" in body:
                        assert "${var." in value(body["project"]), f"{rtype}.{name}"


def _module_sources(directory: Path) -> set[Path]:
    """Module directories reachable from a root, through nested module calls."""
    found: set[Path] = set()
    for path, _, body in blocks("module", directory):
        if path.parent != directory:
            continue
        source = (path.parent / value(body["source"])).resolve()
        if source not in found:
            found |= {source} | _module_sources(source)
    return found


@pytest.mark.parametrize("env", ENVS)
def test_every_module_is_used_by_both_envs(env):
    used = {p.relative_to(TF / "modules").parts[0] for p in _module_sources(TF / "envs" / env)}
    assert used == set(MODULES)


def test_envs_differ_only_in_values_and_backend():
    dev, prod = (TF / "envs" / env for env in ENVS)
    assert sorted(p.name for p in dev.iterdir()) == sorted(p.name for p in prod.iterdir())
    for name in ("versions.tf", "variables.tf", "outputs.tf", "providers.tf"):
        # One copy: prod's are symlinks to dev's, so the two roots cannot drift apart.
        assert (prod / name).resolve() == (dev / name).resolve(), name
    for env in ENVS:
        backend = parse(TF / "envs" / env / "backend.tf")["terraform"][0]["backend"][0]["gcs"]
        assert "bucket" not in backend, "the state bucket is given with -backend-config"
        assert value(backend["prefix"]) == f"kubetfx/{env}"


def test_env_versions_are_pinned():
    for env in ENVS:
        block = parse(TF / "envs" / env / "versions.tf")["terraform"][0]
        assert value(block["required_version"]).startswith("~> 1.11")
        for name, spec in value(block["required_providers"]).items():
            version = value(value(spec)["version"])
            assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{env}: {name} {version} not exact"


@pytest.mark.parametrize("env", ENVS)
def test_outputs_terraform_outputs_reads_exist(env):
    outputs = {name for _, name, _ in blocks("output", TF / "envs" / env)}
    assert set(terraform_outputs.REQUIRED) <= outputs
    platform = {name for _, name, _ in blocks("output", TF / "modules" / "platform")}
    assert outputs <= platform


def test_buckets_block_public_access():
    buckets = resources("google_storage_bucket")
    assert {name for _, name, _ in buckets} == {"pipeline_root", "registry", "serving_logs"}
    for _, name, body in buckets:
        assert value(body["public_access_prevention"]) == "enforced", name
        assert value(body["uniform_bucket_level_access"]) is True, name
        assert body.get("lifecycle_rule"), f"{name} has no lifecycle rule"
    registry = next(body for _, name, body in buckets if name == "registry")
    assert value(value(registry["versioning"])["enabled"]) is True


def test_accelerator_pools_are_tainted_as_kubetfx_tolerates():
    pools = {
        name: value(body["node_config"])
        for _, name, body in resources("google_container_node_pool")
    }
    expected = {"gpu": GPU_RESOURCE, "tpu": TPU_RESOURCE}

    # GPUs come as guest accelerators; TPU VMs are machine types (validated as ct5lp-*).
    def accelerated(config):
        return "guest_accelerator" in config or "tpu_pool" in value(config["machine_type"])

    assert accelerated(pools["gpu"]) and accelerated(pools["tpu"])
    tpu_type = next(b for _, n, b in blocks("variable", TF / "modules" / "gke") if n == "tpu_pool")
    assert "ct5lp-hightpu" in str(tpu_type["validation"])
    for name, config in pools.items():
        taints = [value(t) for t in config.get("taint", [])]
        if accelerated(config):
            assert [(value(t["key"]), value(t["effect"])) for t in taints] == [
                (expected[name], "NO_SCHEDULE")
            ], name
        else:
            assert not taints, f"{name} carries no accelerator and should take any pod"
    assert "gpu_driver_installation_config" in value(pools["gpu"]["guest_accelerator"])


def _manifest_service_accounts() -> set[str]:
    accounts = {
        f"{d['metadata'].get('namespace')}/{d['metadata']['name']}"
        for p in manifest_files()
        for d in yaml_docs(p)
        if d.get("kind") == "ServiceAccount"
    }
    kfp = yaml_docs(ROOT / "infra" / "k8s" / "kfp" / "kustomization.yaml")[0]
    for patch in kfp.get("patches", []):
        for doc in yaml_docs_from_text(patch.get("patch", "")):
            if doc.get("kind") == "ServiceAccount":
                accounts.add(f"{doc['metadata']['namespace']}/{doc['metadata']['name']}")
    return accounts


def yaml_docs_from_text(text: str) -> list[dict[str, Any]]:
    import yaml

    return [d for d in yaml.safe_load_all(text) if d]


def test_workload_identity_binds_the_accounts_infra_k8s_uses():
    platform = TF / "modules" / "platform" / "main.tf"
    iam = next(value(b) for _, n, b in blocks("module", platform.parent) if n == "iam")
    bound = set(value(iam["kubernetes_service_accounts"]))
    assert bound == _manifest_service_accounts()


# checkov ---------------------------------------------------------------------------------
CANARY = "/_canary/"
CANARY_TF = """\
resource "google_storage_bucket" "public" {
  name                        = "canary"
  location                    = "EU"
  uniform_bucket_level_access = false
}
"""


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory) -> dict[str, Any]:
    tree = tmp_path_factory.mktemp("checkov-tf")
    shutil.copytree(TF, tree / "terraform", ignore=shutil.ignore_patterns(".terraform"))
    (tree / CANARY.strip("/")).mkdir()
    (tree / CANARY.strip("/") / "main.tf").write_text(CANARY_TF)
    return run_checkov(tree, ("terraform",))["terraform"]


def test_checkov_scanned_the_terraform(checkov_report):
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert checkov_report["summary"]["passed"] > 50
    failed = {
        c["check_id"]
        for c in checkov_report["results"]["failed_checks"]
        if c["file_path"].startswith(CANARY)
    }
    assert {"CKV_GCP_29", "CKV_GCP_114"} <= failed  # uniform access; public access prevention


def test_checkov_finds_no_failed_check_in_terraform(checkov_report):
    failures = [
        f"{c['check_id']} {c['check_name']}: {c['file_path']} {c['resource']}"
        for c in checkov_report["results"]["failed_checks"]
        if not c["file_path"].startswith(CANARY)
    ]
    assert not failures, "\n".join(failures)


def test_every_terraform_skip_gives_a_reason(checkov_report):
    for check in checkov_report["results"]["skipped_checks"]:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) >= MIN_REASON_CHARS, f"{check['check_id']} in {check['file_path']}"
    for path in TF_FILES:
        for match in SKIP_COMMENT_RE.finditer(path.read_text()):
            assert len((match.group(2) or "").strip()) >= MIN_REASON_CHARS, (
                f"{path.relative_to(TF)}: checkov:skip={match.group(1)} has no reason"
            )
