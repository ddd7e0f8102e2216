# Read by `make tf-outputs` (kubetfx/pipelines/terraform_outputs.py); see the platform module for meanings.
output "project_id" {
  description = "vertex.project"
  value       = module.platform.project_id
}

output "region" {
  description = "vertex.region"
  value       = module.platform.region
}

output "pipeline_root" {
  description = "pipeline_root"
  value       = module.platform.pipeline_root
}

output "reference_root" {
  description = "reference_root"
  value       = module.platform.reference_root
}

output "model_registry" {
  description = "push.registry"
  value       = module.platform.model_registry
}

output "serving_log_dir" {
  description = "serving.request_log.dir"
  value       = module.platform.serving_log_dir
}

output "image_repository" {
  description = "images.components / images.server prefix"
  value       = module.platform.image_repository
}

output "pipeline_repository" {
  description = "Artifact Registry KFP repository"
  value       = module.platform.pipeline_repository
}

output "kfp_host" {
  description = "kubeflow.host"
  value       = module.platform.kfp_host
}

output "kfp_namespace" {
  description = "kubeflow.namespace"
  value       = module.platform.kfp_namespace
}

output "kfp_service_account" {
  description = "kubeflow.service_account"
  value       = module.platform.kfp_service_account
}

output "service_accounts" {
  description = "Google service accounts by role (pipelines = vertex.service_account)"
  value       = module.platform.service_accounts
}

output "vertex_endpoint" {
  description = "vertex.endpoint"
  value       = module.platform.vertex_endpoint
}

output "vertex_tensorboard" {
  description = "vertex.tensorboard"
  value       = module.platform.vertex_tensorboard
}

output "workload_identity_provider" {
  description = "GCP_WORKLOAD_IDENTITY_PROVIDER for CI"
  value       = module.platform.workload_identity_provider
}

output "cluster" {
  description = "name and location for gcloud container clusters get-credentials"
  value       = module.platform.cluster
}
