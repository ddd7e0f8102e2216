output "enabled" {
  description = "The enabled APIs; depend on this so resources wait for their API."
  value       = [for s in google_project_service.this : s.service]
}
