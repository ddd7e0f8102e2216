variable "project_id" {
  type        = string
  description = "Google Cloud project the network is created in."
}

variable "region" {
  type        = string
  description = "Region of the subnet, router and NAT (the cluster's region)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west4 or us-central1."
  }
}

variable "name" {
  type        = string
  description = "Name of the VPC; the subnet, router and NAT are named after it."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,40}[a-z0-9])?$", var.name))
    error_message = "name must be 1-42 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "nodes_cidr" {
  type        = string
  description = "Primary range of the subnet: one address per node."

  validation {
    condition     = can(cidrnetmask(var.nodes_cidr))
    error_message = "nodes_cidr must be an IPv4 CIDR block such as 10.10.0.0/20."
  }
}

variable "pods_cidr" {
  type        = string
  description = "Secondary range for pods (GKE gives each node a /24 by default: size it for the node count)."

  validation {
    condition     = can(cidrnetmask(var.pods_cidr))
    error_message = "pods_cidr must be an IPv4 CIDR block such as 10.20.0.0/16."
  }
}

variable "services_cidr" {
  type        = string
  description = "Secondary range for Kubernetes services."

  validation {
    condition     = can(cidrnetmask(var.services_cidr))
    error_message = "services_cidr must be an IPv4 CIDR block such as 10.30.0.0/20."
  }
}

variable "flow_log_sampling" {
  type        = number
  description = "Fraction of VPC flow logs kept (0-1]; lower it to cut logging cost."
  default     = 0.5

  validation {
    condition     = var.flow_log_sampling > 0 && var.flow_log_sampling <= 1
    error_message = "flow_log_sampling must be in (0, 1]."
  }
}
