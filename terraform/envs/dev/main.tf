# dev: one zone, small pools that scale to zero, spot accelerators, buckets that a
# destroy may empty, no deletion protection.
module "platform" {
  source = "../../modules/platform"

  environment                = "dev"
  project_id                 = var.project_id
  region                     = var.region
  zone                       = var.zone
  master_authorized_networks = var.master_authorized_networks
  github_repository          = var.github_repository
  vertex_endpoint_id         = var.vertex_endpoint_id
  kfp_host                   = var.kfp_host
  install_kubeflow           = var.install_kubeflow

  deletion_protection          = false
  force_destroy                = true
  pipeline_root_retention_days = 14
  release_channel              = "REGULAR"
  enable_tensorboard           = false

  system_pool = {
    machine_type = "e2-standard-4"
    min_nodes    = 1
    max_nodes    = 3
    disk_size_gb = 100
  }
  gpu_pool = {
    enabled           = true
    machine_type      = "n1-standard-8"
    accelerator_type  = "nvidia-tesla-t4"
    accelerator_count = 1
    driver_version    = "LATEST"
    min_nodes         = 0
    max_nodes         = 2
    disk_size_gb      = 100
    spot              = true
    zones             = []
  }
  tpu_pool = {
    enabled      = false
    machine_type = "ct5lp-hightpu-4t"
    topology     = "2x2"
    min_slices   = 0
    max_slices   = 1
    disk_size_gb = 100
    spot         = true
    zones        = []
  }
}
