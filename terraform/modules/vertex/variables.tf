variable "project_id" {
  type        = string
  description = "Google Cloud project of the Vertex AI resources."
}

variable "region" {
  type        = string
  description = "Vertex AI region (the pipelines' region: vertex.region)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Vertex AI region such as europe-west4 or us-central1."
  }
}

variable "endpoint_id" {
  type        = string
  description = "Numeric id of the endpoint (Vertex AI requires digits, no leading zero, at most 10)."

  validation {
    condition     = can(regex("^[1-9][0-9]{0,9}$", var.endpoint_id))
    error_message = "endpoint_id must be 1-10 digits without a leading zero, e.g. 1000000001."
  }
}

variable "endpoint_display_name" {
  type        = string
  description = "Display name of the endpoint: kubetfx's vertex.endpoint."

  validation {
    condition     = length(var.endpoint_display_name) > 0 && length(var.endpoint_display_name) <= 128
    error_message = "endpoint_display_name must be 1-128 characters."
  }
}

variable "enable_tensorboard" {
  type        = bool
  description = "Create a Vertex AI TensorBoard (billed per GiB stored)."
  default     = false
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key in the same region to encrypt the Vertex AI resources with; null: Google-managed keys."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels on the endpoint and TensorBoard."
  default     = {}
}
