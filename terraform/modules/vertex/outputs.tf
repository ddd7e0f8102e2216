output "endpoint_display_name" {
  description = "Display name of the endpoint (vertex.endpoint)."
  value       = google_vertex_ai_endpoint.serving.display_name
}

output "endpoint" {
  description = "Resource name of the endpoint."
  value       = google_vertex_ai_endpoint.serving.id
}

output "metadata_store" {
  description = "Resource name of the metadata store."
  value       = google_vertex_ai_metadata_store.default.id
}

output "tensorboard" {
  description = "Resource name of the TensorBoard, or null when disabled."
  value       = var.enable_tensorboard ? google_vertex_ai_tensorboard.training[0].id : null
}
