# What kubetfx reads (kubetfx/pipelines/terraform_outputs.py maps these onto config keys); the env roots
# re-export them one to one.
output "project_id" {
  description = "vertex.project"
  value       = var.project_id
}

output "region" {
  description = "vertex.region"
  value       = var.region
}

output "pipeline_root" {
  description = "pipeline_root"
  value       = "gs://${module.storage.pipeline_root_bucket}/pipeline_root"
}

output "reference_root" {
  description = "reference_root: reference schemas and statistics live beside the models (never expired)"
  value       = "gs://${module.storage.registry_bucket}/references"
}

output "model_registry" {
  description = "push.registry (and serving.registry)"
  value       = "gs://${module.storage.registry_bucket}/models"
}

output "serving_log_dir" {
  description = "serving.request_log.dir"
  value       = "gs://${module.storage.serving_logs_bucket}"
}

output "image_repository" {
  description = "images.components / images.server prefix (`make images REGISTRY=...`)"
  value       = module.artifact_registry.image_repository
}

output "pipeline_repository" {
  description = "KFP Artifact Registry repository for compiled pipelines"
  value       = module.artifact_registry.pipeline_repository
}

output "kfp_host" {
  description = "kubeflow.host"
  value       = coalesce(var.kfp_host, "http://localhost:8888")
}

output "kfp_namespace" {
  description = "kubeflow.namespace"
  value       = "kubeflow"
}

output "kfp_service_account" {
  description = "kubeflow.service_account: the Kubernetes account steps run as"
  value       = "pipeline-runner"
}

output "service_accounts" {
  description = "Google service account emails: pipelines (vertex.service_account), kfp-ui, trainer, server, ci"
  value       = module.iam.emails
}

output "vertex_endpoint" {
  description = "vertex.endpoint (display name)"
  value       = module.vertex.endpoint_display_name
}

output "vertex_tensorboard" {
  description = "vertex.tensorboard (null unless enable_tensorboard)"
  value       = module.vertex.tensorboard
}

output "workload_identity_provider" {
  description = "GCP_WORKLOAD_IDENTITY_PROVIDER for the CI workflow"
  value       = module.iam.workload_identity_provider
}

output "cluster" {
  description = "Cluster name and location, for `gcloud container clusters get-credentials`"
  value       = { name = module.gke.name, location = module.gke.location }
}

output "kubeconfig" {
  description = "Kubeconfig for the kustomization provider (a short-lived token)"
  value       = local.kubeconfig
  sensitive   = true
}
