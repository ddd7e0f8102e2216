# Three buckets with three lifetimes: run artifacts (large, rebuilt by re-running: expire),
# the model registry and reference schemas (must outlive runs: versioned, never expired) and
# the model server's request logs (monitoring input: cooled, then expired). All use uniform
# bucket-level access (IAM only, no object ACLs) and can never be made public.
locals {
  buckets = {
    pipeline_root = "${var.name_prefix}-pipeline-root"
    registry      = "${var.name_prefix}-model-registry"
    serving_logs  = "${var.name_prefix}-serving-logs"
  }
}

resource "google_storage_bucket" "pipeline_root" {
  # checkov:skip=CKV_GCP_62:access logs would go to a fourth bucket; Cloud Audit Logs (data access) record reads and writes instead
  project                     = var.project_id
  name                        = local.buckets.pipeline_root
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  # Versioned so an overwritten artifact can be recovered for a short while; old versions go
  # after noncurrent_days and run outputs after pipeline_root_retention_days.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.pipeline_root_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_days
    }
    action {
      type = "Delete"
    }
  }

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_days * 86400
  }
}

resource "google_storage_bucket" "registry" {
  # checkov:skip=CKV_GCP_62:access logs would go to a fourth bucket; Cloud Audit Logs (data access) record reads and writes instead
  project                     = var.project_id
  name                        = local.buckets.registry
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  # A pushed model or a champion pointer overwritten by mistake can be restored.
  versioning {
    enabled = true
  }

  # Current objects (the served models) never expire; replaced ones are kept
  # noncurrent_days, and at most registry_noncurrent_versions of them per object.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      num_newer_versions = var.registry_noncurrent_versions
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_days * 86400
  }
}

resource "google_storage_bucket" "serving_logs" {
  # checkov:skip=CKV_GCP_62:access logs would go to a fourth bucket; Cloud Audit Logs (data access) record reads and writes instead
  project                     = var.project_id
  name                        = local.buckets.serving_logs
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  # Request logs are written once; versioning only keeps deleted ones a little longer.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.serving_logs_nearline_days
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age = var.serving_logs_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_days
    }
    action {
      type = "Delete"
    }
  }

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_days * 86400
  }
}
