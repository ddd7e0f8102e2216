variable "project_id" {
  type        = string
  description = "Google Cloud project of the cluster."
}

variable "name" {
  type        = string
  description = "Cluster name; also prefixes the node service account."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,22}[a-z0-9])?$", var.name))
    error_message = "name must be 1-24 lowercase letters, digits or '-', starting with a letter (it prefixes a service account id)."
  }
}

variable "location" {
  type        = string
  description = "A region (regional cluster: control plane in three zones) or a zone (zonal cluster: cheaper, one control plane)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+(-[a-z])?$", var.location))
    error_message = "location must be a region such as europe-west4 or a zone such as europe-west4-a."
  }
}

variable "node_zones" {
  type        = list(string)
  description = "Zones the CPU nodes run in; empty: GKE's default for the location."
  default     = []
}

variable "network" {
  type        = string
  description = "Self link of the VPC."
}

variable "subnetwork" {
  type        = string
  description = "Self link of the subnet the nodes use."
}

variable "pods_range_name" {
  type        = string
  description = "Secondary range of the subnet for pods."
}

variable "services_range_name" {
  type        = string
  description = "Secondary range of the subnet for services."
}

variable "master_ipv4_cidr" {
  type        = string
  description = "A /28 for the control plane's private endpoint; must not overlap the subnet's ranges."

  validation {
    condition     = can(cidrnetmask(var.master_ipv4_cidr)) && endswith(var.master_ipv4_cidr, "/28")
    error_message = "master_ipv4_cidr must be an IPv4 /28 such as 172.16.0.0/28."
  }
}

variable "private_endpoint" {
  type        = bool
  description = "Reach the control plane only from inside the VPC. Terraform must then run inside the VPC (or through a bastion) to install Kubeflow."
  default     = false
}

variable "master_authorized_networks" {
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  description = "CIDR blocks allowed to reach the control plane (your office, CI runners' egress)."

  validation {
    condition     = alltrue([for n in var.master_authorized_networks : can(cidrnetmask(n.cidr_block)) && n.cidr_block != "0.0.0.0/0"])
    error_message = "Each master_authorized_networks cidr_block must be an IPv4 CIDR block, and not 0.0.0.0/0."
  }
}

variable "release_channel" {
  type        = string
  description = "GKE release channel: how fast the cluster follows new Kubernetes versions."
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "maintenance_recurrence" {
  type        = string
  description = "RFC 5545 RRULE of the weekly 02:00-08:00 UTC maintenance window."
  default     = "FREQ=WEEKLY;BYDAY=SA,SU"
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the cluster (set false, apply, then destroy to tear down)."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels on the cluster and its nodes."
  default     = {}
}

variable "system_pool" {
  type = object({
    machine_type = string
    min_nodes    = number
    max_nodes    = number
    disk_size_gb = number
  })
  description = "The CPU pool (per zone counts): Kubeflow Pipelines, KServe and the CPU steps."

  validation {
    condition     = var.system_pool.min_nodes >= 1 && var.system_pool.max_nodes >= var.system_pool.min_nodes && var.system_pool.max_nodes <= 100
    error_message = "system_pool needs 1 <= min_nodes <= max_nodes <= 100: the control-plane pods must have somewhere to run."
  }
  validation {
    condition     = var.system_pool.disk_size_gb >= 50
    error_message = "system_pool.disk_size_gb must be at least 50 (the component image holds TensorFlow twice)."
  }
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
  description = "The GPU training pool (per zone counts). accelerator_type is the GKE name kubetfx's cluster.steps.train.accelerator uses."

  validation {
    condition = contains([
      "nvidia-tesla-t4", "nvidia-l4", "nvidia-tesla-v100", "nvidia-tesla-a100",
      "nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-h100-mega-80gb",
    ], var.gpu_pool.accelerator_type)
    error_message = "gpu_pool.accelerator_type must be a GKE GPU name such as nvidia-tesla-t4 or nvidia-l4."
  }
  validation {
    condition     = contains([1, 2, 4, 8], var.gpu_pool.accelerator_count)
    error_message = "gpu_pool.accelerator_count must be 1, 2, 4 or 8."
  }
  validation {
    condition     = contains(["DEFAULT", "LATEST", "INSTALLATION_DISABLED"], var.gpu_pool.driver_version)
    error_message = "gpu_pool.driver_version must be DEFAULT, LATEST or INSTALLATION_DISABLED."
  }
  validation {
    condition     = var.gpu_pool.min_nodes >= 0 && var.gpu_pool.max_nodes >= var.gpu_pool.min_nodes && var.gpu_pool.max_nodes <= 32
    error_message = "gpu_pool needs 0 <= min_nodes <= max_nodes <= 32 (min_nodes 0 lets it scale to zero)."
  }
  validation {
    condition     = var.gpu_pool.accelerator_type != "nvidia-l4" || startswith(var.gpu_pool.machine_type, "g2-")
    error_message = "gpu_pool: nvidia-l4 GPUs come only with g2-* machine types."
  }
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
  description = "The TPU v5e pool: ct5lp-hightpu-{1,4,8}t machines, a slice topology such as 2x2, and zones where v5e exists."

  validation {
    condition     = can(regex("^ct5lp-hightpu-(1|4|8)t$", var.tpu_pool.machine_type))
    error_message = "tpu_pool.machine_type must be a TPU v5e machine type: ct5lp-hightpu-1t, -4t or -8t."
  }
  validation {
    condition     = contains(["1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"], var.tpu_pool.topology)
    error_message = "tpu_pool.topology must be a TPU v5e topology: 1x1, 2x2, 2x4, 4x4, 4x8, 8x8, 8x16 or 16x16."
  }
  validation {
    condition     = var.tpu_pool.min_slices >= 0 && var.tpu_pool.max_slices >= var.tpu_pool.min_slices && var.tpu_pool.max_slices <= 8
    error_message = "tpu_pool needs 0 <= min_slices <= max_slices <= 8."
  }
  validation {
    condition     = !var.tpu_pool.enabled || length(var.tpu_pool.zones) > 0
    error_message = "tpu_pool.zones must name at least one zone with TPU v5e capacity (e.g. us-west4-a, europe-west4-b)."
  }
}

variable "rbac_security_group" {
  type        = string
  description = "Google Groups for RBAC: gke-security-groups@YOUR_DOMAIN (Google Workspace); null: off."
  default     = null

  validation {
    condition     = var.rbac_security_group == null || can(regex("^gke-security-groups@", var.rbac_security_group))
    error_message = "rbac_security_group must be gke-security-groups@YOUR_DOMAIN, or null."
  }
}
