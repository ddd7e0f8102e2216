output "applied" {
  description = "Ids of the applied objects (depend on this to order stages)."
  value       = concat(keys(kustomization_resource.first), keys(kustomization_resource.main), keys(kustomization_resource.last))
}
