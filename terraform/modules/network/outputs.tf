output "network" {
  description = "Self link of the VPC."
  value       = google_compute_network.this.self_link
}

output "subnetwork" {
  description = "Self link of the cluster's subnet."
  value       = google_compute_subnetwork.nodes.self_link
}

output "pods_range_name" {
  description = "Name of the secondary range for pods."
  value       = local.pods_range
}

output "services_range_name" {
  description = "Name of the secondary range for services."
  value       = local.services_range
}
