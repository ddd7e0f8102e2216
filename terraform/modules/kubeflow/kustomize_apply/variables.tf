variable "resources" {
  type        = list(string)
  description = "Kustomization directories or manifest URLs to build."

  validation {
    condition     = length(var.resources) > 0
    error_message = "resources must name at least one kustomization or manifest."
  }
}

variable "patches" {
  type        = list(string)
  description = "Strategic-merge patches (YAML documents) applied on top of the resources."
  default     = []
}

variable "exclude_kinds" {
  type        = list(string)
  description = "Kinds built but not applied (managed elsewhere)."
  default     = []
}

variable "wait" {
  type        = bool
  description = "Wait for Deployments and other workloads to become ready before the next stage."
  default     = true
}
