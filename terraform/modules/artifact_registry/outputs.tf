output "image_repository" {
  description = "Docker repository prefix: REGION-docker.pkg.dev/PROJECT/REPO (`make images REGISTRY=...`)."
  value       = "${var.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "pipeline_repository" {
  description = "KFP repository URL for compiled pipelines: https://REGION-kfp.pkg.dev/PROJECT/REPO."
  value       = "https://${var.location}-kfp.pkg.dev/${var.project_id}/${google_artifact_registry_repository.pipelines.repository_id}"
}

output "images_repository_name" {
  description = "Resource name of the Docker repository (for IAM bindings)."
  value       = google_artifact_registry_repository.images.name
}

output "pipelines_repository_name" {
  description = "Resource name of the KFP repository (for IAM bindings)."
  value       = google_artifact_registry_repository.pipelines.name
}
