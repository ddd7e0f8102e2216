provider "google" {
  project = var.project_id
  region  = var.region
  # Labels on every resource that takes them.
  default_labels = {
    managed-by = "terraform"
  }
}

# Applies the Kubernetes objects (modules/kubeflow) with the cluster's endpoint and
# Terraform's own Google credentials.
provider "kustomization" {
  kubeconfig_raw = module.platform.kubeconfig
}
