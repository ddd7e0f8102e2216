# Two repositories: Docker images (kubetfx-components, kubetfx-server; `make images`
# pushes them) and compiled pipelines (KFP format: versioned, taggable pipeline templates that
# Vertex AI Pipelines and the Kubeflow UI can run from).
resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.location
  repository_id = var.name
  format        = "DOCKER"
  description   = "kubetfx container images (components and model server)"
  labels        = var.labels
  kms_key_name  = var.kms_key_name

  docker_config {
    # A tag names one build forever: what a compiled pipeline pulls cannot change under it.
    immutable_tags = var.immutable_tags
  }

  # Untagged images (superseded digests) go after untagged_retention_days; the newest
  # keep_recent_versions stay whatever their age.
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "${var.untagged_retention_days * 86400}s"
    }
  }
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.keep_recent_versions
    }
  }
}

resource "google_artifact_registry_repository" "pipelines" {
  project       = var.project_id
  location      = var.location
  repository_id = "${var.name}-pipelines"
  format        = "KFP"
  description   = "kubetfx compiled pipelines (KFP IR YAML templates)"
  labels        = var.labels
  kms_key_name  = var.kms_key_name
}

resource "google_artifact_registry_repository_iam_member" "image_readers" {
  for_each = toset(var.image_readers)

  project    = var.project_id
  location   = var.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = each.value
}
