variable "project_id" {
  type        = string
  description = "Google Cloud project everything is created in."

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id: 6-30 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the network, buckets, registry, Vertex AI and (unless zone is set) the cluster."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west4 or us-central1."
  }
}

variable "zone" {
  type        = string
  description = "A zone of region for a zonal cluster (one control plane, cheaper); null: a regional cluster."
  default     = null

  validation {
    condition     = var.zone == null || can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone must be a zone such as europe-west4-a, or null."
  }
}

variable "environment" {
  type        = string
  description = "Environment name; suffixes every resource name (kubetfx-dev-...)."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "name" {
  type        = string
  description = "Base name of the resources."
  default     = "kubetfx"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,11}$", var.name))
    error_message = "name must be 3-12 lowercase letters or digits, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels on every resource that takes labels."
  default     = {}
}

variable "network" {
  type = object({
    nodes_cidr    = string
    pods_cidr     = string
    services_cidr = string
    master_cidr   = string
  })
  description = "Address ranges: nodes, pods and services of the subnet, and the control plane's /28."
  default = {
    nodes_cidr    = "10.10.0.0/20"
    pods_cidr     = "10.20.0.0/16"
    services_cidr = "10.30.0.0/20"
    master_cidr   = "172.16.0.0/28"
  }
}

variable "master_authorized_networks" {
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  description = "CIDR blocks allowed to reach the cluster's control plane (where terraform and kubectl run)."
}

variable "release_channel" {
  type        = string
  description = "GKE release channel."
  default     = "REGULAR"
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the cluster from `terraform destroy`."
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete non-empty buckets."
}

variable "pipeline_root_retention_days" {
  type        = number
  description = "Days run artifacts are kept."
  default     = 30
}

variable "system_pool" {
  type = object({
    machine_type = string
    min_nodes    = number
    max_nodes    = number
    disk_size_gb = number
  })
  description = "The CPU node pool (see modules/gke)."
}

variable "gpu_pool" {
  type = object({
    enabled           = bool
    machine_type      = string
    accelerator_type  = string
    accelerator_count = number
    driver_version    = string
    min_nodes         = number
    max_nodes         = number
    disk_size_gb      = number
    spot              = bool
    zones             = list(string)
  })
  description = "The GPU training pool (see modules/gke)."
}

variable "tpu_pool" {
  type = object({
    enabled      = bool
    machine_type = string
    topology     = string
    min_slices   = number
    max_slices   = number
    disk_size_gb = number
    spot         = bool
    zones        = list(string)
  })
  description = "The TPU v5e pool (see modules/gke)."
}

variable "github_repository" {
  type        = string
  description = "OWNER/NAME of the GitHub repository whose workflows may deploy (Workload Identity Federation)."
}

variable "github_ref" {
  type        = string
  description = "Restrict CI to one ref (refs/heads/main); null: any branch of the repository."
  default     = null
}

variable "vertex_endpoint_id" {
  type        = string
  description = "Numeric id of the Vertex AI endpoint."
}

variable "enable_tensorboard" {
  type        = bool
  description = "Create a Vertex AI TensorBoard."
  default     = false
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key for Artifact Registry and Vertex AI; null: Google-managed keys."
  default     = null
}

variable "install_kubeflow" {
  type        = bool
  description = "Install Kubeflow Pipelines, KServe and infra/k8s into the cluster (false: only the Google Cloud side)."
  default     = true
}

variable "served_models" {
  type        = list(string)
  description = "Model names the in-cluster model server loads; empty: all in the registry."
  default     = []
}

variable "kfp_host" {
  type        = string
  description = "The Kubeflow Pipelines API as your clients reach it (an IAP-fronted URL); null: a port-forward on localhost:8888."
  default     = null

  validation {
    condition     = var.kfp_host == null || can(regex("^https?://", var.kfp_host))
    error_message = "kfp_host must be an http(s):// URL, or null."
  }
}
