output "namespace" {
  description = "Namespace of Kubeflow Pipelines (kubeflow.namespace)."
  value       = "kubeflow"
}

output "pipeline_service_account" {
  description = "Kubernetes service account the pipeline steps run as (kubeflow.service_account)."
  value       = "pipeline-runner"
}

output "serving_namespace" {
  description = "Namespace of the InferenceServices the push step creates."
  value       = "kubetfx-serving"
}

output "applied" {
  description = "Number of Kubernetes objects Terraform manages."
  value       = length(concat(module.prerequisites.applied, module.platform.applied, module.project.applied))
}
