variable "project_id" {
  type        = string
  description = "Google Cloud project of the repositories."
}

variable "location" {
  type        = string
  description = "Region of the repositories: the cluster's, so image pulls stay in-region."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.location))
    error_message = "location must be a region such as europe-west4."
  }
}

variable "name" {
  type        = string
  description = "Id of the Docker repository; the KFP repository is NAME-pipelines."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,50}[a-z0-9])?$", var.name))
    error_message = "name must be lowercase letters, digits or '-', starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels on both repositories."
  default     = {}
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) to encrypt both repositories with; null: Google-managed keys."
  default     = null
}

variable "immutable_tags" {
  type        = bool
  description = "Refuse to move an existing image tag."
  default     = true
}

variable "untagged_retention_days" {
  type        = number
  description = "Days an untagged image is kept before cleanup deletes it."
  default     = 14

  validation {
    condition     = var.untagged_retention_days >= 1
    error_message = "untagged_retention_days must be at least 1."
  }
}

variable "keep_recent_versions" {
  type        = number
  description = "Newest image versions per package that cleanup never deletes."
  default     = 10

  validation {
    condition     = var.keep_recent_versions >= 1
    error_message = "keep_recent_versions must be at least 1."
  }
}

variable "image_readers" {
  type        = list(string)
  description = "IAM members (serviceAccount:EMAIL) that pull images: the GKE nodes."
  default     = []
}
