output "pipeline_root_bucket" {
  description = "Name of the pipeline-root bucket."
  value       = google_storage_bucket.pipeline_root.name
}

output "registry_bucket" {
  description = "Name of the model-registry bucket (models/ and references/)."
  value       = google_storage_bucket.registry.name
}

output "serving_logs_bucket" {
  description = "Name of the serving-logs bucket."
  value       = google_storage_bucket.serving_logs.name
}
