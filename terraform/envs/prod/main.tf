# prod: a regional control plane, deletion protection, buckets that survive a destroy, CI
# restricted to main, on-demand GPUs and a TPU v5e pool.
module "platform" {
  source = "../../modules/platform"

  environment                = "prod"
  project_id                 = var.project_id
  region                     = var.region
  zone                       = var.zone
  master_authorized_networks = var.master_authorized_networks
  github_repository          = var.github_repository
  github_ref                 = "refs/heads/main"
  vertex_endpoint_id         = var.vertex_endpoint_id
  kfp_host                   = var.kfp_host
  install_kubeflow           = var.install_kubeflow

  deletion_protection          = true
  force_destroy                = false
  pipeline_root_retention_days = 90
  release_channel              = "STABLE"
  enable_tensorboard           = true

  system_pool = {
    machine_type = "e2-standard-8"
    min_nodes    = 1
    max_nodes    = 5
    disk_size_gb = 200
  }
  gpu_pool = {
    enabled           = true
    machine_type      = "g2-standard-16"
    accelerator_type  = "nvidia-l4"
    accelerator_count = 1
    driver_version    = "LATEST"
    min_nodes         = 0
    max_nodes         = 4
    disk_size_gb      = 200
    spot              = false
    zones             = []
  }
  tpu_pool = {
    enabled      = true
    machine_type = "ct5lp-hightpu-4t"
    topology     = "2x2"
    min_slices   = 0
    max_slices   = 2
    disk_size_gb = 200
    spot         = false
    zones        = ["europe-west4-b"]
  }
}
