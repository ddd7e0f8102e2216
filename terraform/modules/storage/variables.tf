variable "project_id" {
  type        = string
  description = "Google Cloud project of the buckets."
}

variable "name_prefix" {
  type        = string
  description = "Bucket names are PREFIX-pipeline-root, PREFIX-model-registry, PREFIX-serving-logs; bucket names are global, so include the project id."

  validation {
    condition     = can(regex("^[a-z0-9][-a-z0-9]{1,46}[a-z0-9]$", var.name_prefix)) && !can(regex("goog|google", var.name_prefix))
    error_message = "name_prefix must be 3-48 lowercase letters, digits or '-', and must not contain 'goog' (reserved)."
  }
}

variable "location" {
  type        = string
  description = "Bucket location: the cluster's region keeps data next to the compute (no egress)."

  validation {
    condition     = can(regex("^([a-z]+-[a-z]+[0-9]+|US|EU|ASIA)$", var.location))
    error_message = "location must be a region such as europe-west4 (or the multi-regions US, EU, ASIA)."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete non-empty buckets (dev). False keeps data safe: empty the buckets first."
  default     = false
}

variable "labels" {
  type        = map(string)
  description = "Labels on every bucket."
  default     = {}
}

variable "pipeline_root_retention_days" {
  type        = number
  description = "Days run artifacts are kept in the pipeline root."
  default     = 30

  validation {
    condition     = var.pipeline_root_retention_days >= 1
    error_message = "pipeline_root_retention_days must be at least 1."
  }
}

variable "noncurrent_days" {
  type        = number
  description = "Days an overwritten or deleted object version is kept."
  default     = 30

  validation {
    condition     = var.noncurrent_days >= 1
    error_message = "noncurrent_days must be at least 1."
  }
}

variable "registry_noncurrent_versions" {
  type        = number
  description = "Older versions kept per registry object (the champion pointer is rewritten on each push)."
  default     = 10

  validation {
    condition     = var.registry_noncurrent_versions >= 1
    error_message = "registry_noncurrent_versions must be at least 1."
  }
}

variable "serving_logs_nearline_days" {
  type        = number
  description = "Days after which request logs move to Nearline storage."
  default     = 30

  validation {
    condition     = var.serving_logs_nearline_days >= 1
    error_message = "serving_logs_nearline_days must be at least 1."
  }
}

variable "serving_logs_retention_days" {
  type        = number
  description = "Days request logs are kept (Nearline bills at least 30 days)."
  default     = 365

  validation {
    condition     = var.serving_logs_retention_days >= 31
    error_message = "serving_logs_retention_days must be at least 31 (past the Nearline transition)."
  }
}

variable "soft_delete_days" {
  type        = number
  description = "Days a deleted object can still be restored (0 disables soft delete; 7-90 otherwise)."
  default     = 7

  validation {
    condition     = var.soft_delete_days == 0 || (var.soft_delete_days >= 7 && var.soft_delete_days <= 90)
    error_message = "soft_delete_days must be 0 or between 7 and 90."
  }
}
