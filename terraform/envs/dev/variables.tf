# The identifiers of one deployment (set them in terraform.tfvars); sizes and policies are
# the environment's values in main.tf.
variable "project_id" {
  type        = string
  description = "Google Cloud project to deploy into."
}

variable "region" {
  type        = string
  description = "Region of everything (e.g. europe-west4)."
}

variable "zone" {
  type        = string
  description = "Zone for a zonal cluster, or null for a regional one."
  default     = null
}

variable "master_authorized_networks" {
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  description = "CIDR blocks allowed to reach the GKE control plane (where terraform and kubectl run)."
}

variable "github_repository" {
  type        = string
  description = "OWNER/NAME of the GitHub repository allowed to deploy through Workload Identity Federation."
}

variable "vertex_endpoint_id" {
  type        = string
  description = "Numeric id of the Vertex AI endpoint (up to 10 digits)."
}

variable "kfp_host" {
  type        = string
  description = "Kubeflow Pipelines API URL as clients reach it; null: a port-forward on localhost:8888."
  default     = null
}

variable "install_kubeflow" {
  type        = bool
  description = "Install Kubeflow Pipelines, KServe and infra/k8s (false for a first apply of the Google Cloud side only)."
  default     = true
}
