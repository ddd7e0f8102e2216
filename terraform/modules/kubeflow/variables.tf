variable "service_accounts" {
  type = object({
    pipelines = string
    kfp_ui    = string
    trainer   = string
    server    = string
  })
  description = "Google service account emails the Kubernetes accounts act as (Workload Identity)."

  validation {
    condition     = alltrue([for email in values(var.service_accounts) : can(regex("^[a-z][-a-z0-9]+@[-a-z0-9]+\\.iam\\.gserviceaccount\\.com$", email))])
    error_message = "service_accounts must be service account emails (NAME@PROJECT.iam.gserviceaccount.com)."
  }
}

variable "model_registry" {
  type        = string
  description = "gs:// model registry the model server reads (push.registry)."

  validation {
    condition     = startswith(var.model_registry, "gs://")
    error_message = "model_registry must be a gs:// path."
  }
}

variable "serving_log_dir" {
  type        = string
  description = "gs:// directory of the model server's request logs."

  validation {
    condition     = startswith(var.serving_log_dir, "gs://")
    error_message = "serving_log_dir must be a gs:// path."
  }
}

variable "served_models" {
  type        = list(string)
  description = "Model names the server loads from the registry (push.model_name); empty: all."
  default     = []
}

variable "request_log_sample_rate" {
  type        = number
  description = "Fraction of requests the model server logs."
  default     = 0.1

  validation {
    condition     = var.request_log_sample_rate >= 0 && var.request_log_sample_rate <= 1
    error_message = "request_log_sample_rate must be between 0 and 1."
  }
}

variable "cert_manager_version" {
  type        = string
  description = "cert-manager release (KServe's webhooks use its certificates)."
  default     = "1.17.2"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.cert_manager_version))
    error_message = "cert_manager_version must be a release number such as 1.17.2 (no leading v)."
  }
}

variable "knative_version" {
  type        = string
  description = "Knative Serving and net-kourier release (KServe Serverless mode)."
  default     = "1.17.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.knative_version))
    error_message = "knative_version must be a release number such as 1.17.0 (no leading v)."
  }
}

variable "kserve_version" {
  type        = string
  description = "KServe release; 0.15.x matches the model server's kserve pin (requirements/serving-lock.txt)."
  default     = "0.15.2"

  validation {
    condition     = can(regex("^0\\.1[5-9]\\.[0-9]+$", var.kserve_version))
    error_message = "kserve_version must be 0.15.x or later 0.x (the InferenceService fields infra/k8s uses)."
  }
}
