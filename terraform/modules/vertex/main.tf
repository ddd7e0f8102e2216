# Vertex AI resources that outlive pipeline runs: the metadata store Vertex AI Pipelines
# records lineage in, the endpoint `push.destination: vertex` pushes blessed models to (kubetfx's
# vertex.endpoint is its display name), and an optional TensorBoard for training curves.

# Vertex AI Pipelines writes to the store named "default". A project that already ran a
# Vertex pipeline has one: import it (README) instead of creating it.
resource "google_vertex_ai_metadata_store" "default" {
  project     = var.project_id
  region      = var.region
  name        = "default"
  description = "Lineage of kubetfx pipeline runs"

  dynamic "encryption_spec" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_spec.value
    }
  }
}

resource "google_vertex_ai_endpoint" "serving" {
  project      = var.project_id
  location     = var.region
  region       = var.region
  name         = var.endpoint_id
  display_name = var.endpoint_display_name
  description  = "Blessed kubetfx models (canary traffic split between deployed versions)"
  labels       = var.labels

  dynamic "encryption_spec" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_spec.value
    }
  }
}

resource "google_vertex_ai_tensorboard" "training" {
  count = var.enable_tensorboard ? 1 : 0

  project      = var.project_id
  region       = var.region
  display_name = "${var.endpoint_display_name}-training"
  description  = "Training curves of kubetfx runs"
  labels       = var.labels

  dynamic "encryption_spec" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_spec.value
    }
  }
}
