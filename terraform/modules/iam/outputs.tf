output "emails" {
  description = "Service account emails by role: pipelines, kfp-ui, trainer, server, ci."
  value       = { for k, sa in google_service_account.this : k => sa.email }
}

output "workload_identity_provider" {
  description = "Full provider name for google-github-actions/auth (repository variable GCP_WORKLOAD_IDENTITY_PROVIDER)."
  value       = google_iam_workload_identity_pool_provider.github.name
}
