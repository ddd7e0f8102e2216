variable "project_id" {
  type        = string
  description = "Google Cloud project of the service accounts and the identity pool."
}

variable "region" {
  type        = string
  description = "Region of the Artifact Registry repositories."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the service account ids (PREFIX-pipelines, PREFIX-trainer, ...) and of the identity pool."

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,19}$", var.name_prefix))
    error_message = "name_prefix must be 5-20 lowercase letters, digits or '-', starting with a letter (service account ids are at most 30 characters)."
  }
}

variable "pipeline_root_bucket" {
  type        = string
  description = "Name of the pipeline-root bucket."
}

variable "registry_bucket" {
  type        = string
  description = "Name of the model-registry bucket."
}

variable "serving_logs_bucket" {
  type        = string
  description = "Name of the serving-logs bucket."
}

variable "images_repository" {
  type        = string
  description = "Resource name of the Docker repository."
}

variable "pipelines_repository" {
  type        = string
  description = "Resource name of the KFP repository."
}

variable "workload_pool" {
  type        = string
  description = "The cluster's Workload Identity pool, PROJECT.svc.id.goog."
}

variable "kubernetes_service_accounts" {
  type        = map(string)
  description = "NAMESPACE/NAME of a Kubernetes service account -> the account key (pipelines, kfp-ui, trainer, server) it acts as."

  validation {
    condition     = alltrue([for k, v in var.kubernetes_service_accounts : can(regex("^[a-z0-9-]+/[a-z0-9-]+$", k)) && contains(["pipelines", "kfp-ui", "trainer", "server"], v)])
    error_message = "kubernetes_service_accounts keys must be NAMESPACE/NAME and values one of pipelines, kfp-ui, trainer, server."
  }
}

variable "github_repository" {
  type        = string
  description = "OWNER/NAME of the GitHub repository whose workflows may act as the ci account."

  validation {
    condition     = can(regex("^[A-Za-z0-9][-A-Za-z0-9]*/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must be OWNER/NAME, e.g. my-org/kubetfx."
  }
}

variable "github_ref" {
  type        = string
  description = "If set, only workflows running on this ref (e.g. refs/heads/main) may act as the ci account."
  default     = null

  validation {
    condition     = var.github_ref == null || can(regex("^refs/(heads|tags)/.+$", var.github_ref))
    error_message = "github_ref must be a full ref such as refs/heads/main, or null."
  }
}
