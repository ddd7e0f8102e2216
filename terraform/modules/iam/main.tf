# One Google service account per job to do, each with only what that job touches:
#
# | account   | runs as (Kubernetes)            | can                                              |
# |-----------|---------------------------------|--------------------------------------------------|
# | pipelines | kubeflow/pipeline-runner, and   | read/write the pipeline root and the registry,   |
# |           | Vertex AI Pipelines jobs        | read request logs, run Vertex/Dataflow jobs      |
# | kfp-ui    | kubeflow/ml-pipeline-ui         | read the pipeline root (renders artifacts)       |
# | trainer   | kubeflow/kubetfx-train-worker   | read/write the pipeline root (data in, model out) |
# | server    | kubetfx-serving/kubetfx-server  | read the registry, append request logs           |
# | ci        | GitHub Actions (federated)      | push images and pipelines, submit runs           |
#
# Bucket and repository roles are granted on the bucket or repository, never the project.

locals {
  accounts = {
    pipelines = "Kubeflow/Vertex pipeline steps (pipeline-runner)"
    kfp-ui    = "Kubeflow Pipelines UI (reads artifacts)"
    trainer   = "Distributed training workers"
    server    = "Model server (KServe)"
    ci        = "GitHub Actions CI (Workload Identity Federation)"
  }

  bucket_roles = [
    { account = "pipelines", bucket = var.pipeline_root_bucket, role = "roles/storage.objectAdmin" },
    { account = "pipelines", bucket = var.registry_bucket, role = "roles/storage.objectAdmin" },
    { account = "pipelines", bucket = var.serving_logs_bucket, role = "roles/storage.objectViewer" },
    { account = "kfp-ui", bucket = var.pipeline_root_bucket, role = "roles/storage.objectViewer" },
    { account = "trainer", bucket = var.pipeline_root_bucket, role = "roles/storage.objectAdmin" },
    { account = "server", bucket = var.registry_bucket, role = "roles/storage.objectViewer" },
    { account = "server", bucket = var.serving_logs_bucket, role = "roles/storage.objectCreator" },
    # CI: Vertex AI's SDK stages the compiled spec under the pipeline root.
    { account = "ci", bucket = var.pipeline_root_bucket, role = "roles/storage.objectCreator" },
  ]

  project_roles = [
    # Steps submit Vertex AI CustomJobs, PipelineJobs and deploy to Endpoints, and run Beam
    # on Dataflow when beam.pipeline_args say so.
    { account = "pipelines", role = "roles/aiplatform.user" },
    { account = "pipelines", role = "roles/dataflow.developer" },
    { account = "pipelines", role = "roles/dataflow.worker" },
    { account = "pipelines", role = "roles/logging.logWriter" },
    { account = "pipelines", role = "roles/monitoring.metricWriter" },
    { account = "trainer", role = "roles/logging.logWriter" },
    { account = "trainer", role = "roles/monitoring.metricWriter" },
    { account = "server", role = "roles/logging.logWriter" },
    { account = "server", role = "roles/monitoring.metricWriter" },
    # CI submits Vertex AI pipeline runs, and reaches the IAP-fronted Kubeflow API.
    { account = "ci", role = "roles/aiplatform.user" },
    { account = "ci", role = "roles/iap.httpsResourceAccessor" },
  ]

  repository_roles = [
    { account = "pipelines", repository = var.images_repository, role = "roles/artifactregistry.reader" },
    { account = "trainer", repository = var.images_repository, role = "roles/artifactregistry.reader" },
    { account = "ci", repository = var.images_repository, role = "roles/artifactregistry.writer" },
    { account = "ci", repository = var.pipelines_repository, role = "roles/artifactregistry.writer" },
  ]

  # Who may act as whom: pipeline steps launch training jobs as the trainer and Vertex
  # pipeline runs (and Dataflow workers) as themselves; CI starts Vertex runs as pipelines.
  act_as = [
    { account = "trainer", member_account = "pipelines" },
    { account = "pipelines", member_account = "pipelines" },
    { account = "pipelines", member_account = "ci" },
  ]
}

resource "google_service_account" "this" {
  for_each = local.accounts

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.key}"
  display_name = "${var.name_prefix}: ${each.value}"
}

resource "google_storage_bucket_iam_member" "this" {
  for_each = { for b in local.bucket_roles : "${b.account}/${b.bucket}/${b.role}" => b }

  bucket = each.value.bucket
  role   = each.value.role
  member = google_service_account.this[each.value.account].member
}

resource "google_project_iam_member" "this" {
  for_each = { for p in local.project_roles : "${p.account}/${p.role}" => p }

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.this[each.value.account].member
}

resource "google_artifact_registry_repository_iam_member" "this" {
  for_each = { for r in local.repository_roles : "${r.account}/${r.repository}/${r.role}" => r }

  project    = var.project_id
  location   = var.region
  repository = each.value.repository
  role       = each.value.role
  member     = google_service_account.this[each.value.account].member
}

resource "google_service_account_iam_member" "act_as" {
  for_each = { for a in local.act_as : "${a.member_account}->${a.account}" => a }

  service_account_id = google_service_account.this[each.value.account].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.this[each.value.member_account].member
}

# GKE Workload Identity: each Kubernetes service account of infra/k8s may act as its Google
# service account (the manifests carry the matching iam.gke.io/gcp-service-account
# annotation). The pool exists once the cluster does, hence workload_pool from the cluster.
resource "google_service_account_iam_member" "workload_identity" {
  for_each = var.kubernetes_service_accounts

  service_account_id = google_service_account.this[each.value].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.workload_pool}[${each.key}]"
}

# GitHub Actions without key files: the job's OIDC token is exchanged for a short-lived token
# of the ci account, only for workflows of one repository (and, if set, one branch or tag).
resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = "${var.name_prefix}-github"
  display_name              = "GitHub Actions"
  description               = "OIDC tokens of GitHub Actions workflows of ${var.github_repository}"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub OIDC"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  # Without a condition any GitHub repository could present a token to this provider.
  attribute_condition = join(" && ", compact([
    "assertion.repository == '${var.github_repository}'",
    var.github_ref == null ? "" : "assertion.ref == '${var.github_ref}'",
  ]))

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account_iam_member" "github_ci" {
  service_account_id = google_service_account.this["ci"].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}
