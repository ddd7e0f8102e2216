variable "project_id" {
  type        = string
  description = "Google Cloud project the APIs are enabled in."
}

variable "services" {
  type        = list(string)
  description = "APIs to enable (service names such as container.googleapis.com)."

  validation {
    condition     = alltrue([for s in var.services : can(regex("^[a-z0-9-]+\\.googleapis\\.com$", s))])
    error_message = "Each service must be an API name such as container.googleapis.com."
  }
}
