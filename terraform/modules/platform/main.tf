# The whole kubetfx platform in one project and region; envs/dev and envs/prod differ only
# in the values they pass here.
locals {
  name   = "${var.name}-${var.environment}"
  labels = merge(var.labels, { app = var.name, environment = var.environment })
  # A zonal cluster (location = a zone) is the cheap default; regional for HA control planes.
  cluster_location = var.zone == null ? var.region : var.zone
}

module "project_services" {
  source     = "../project_services"
  project_id = var.project_id
  services = [
    "aiplatform.googleapis.com", "artifactregistry.googleapis.com",
    "binaryauthorization.googleapis.com", "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com", "container.googleapis.com", "dataflow.googleapis.com",
    "iam.googleapis.com", "iamcredentials.googleapis.com", "logging.googleapis.com",
    "monitoring.googleapis.com", "serviceusage.googleapis.com", "storage.googleapis.com",
    "sts.googleapis.com",
  ]
}

module "network" {
  source        = "../network"
  project_id    = var.project_id
  region        = var.region
  name          = local.name
  nodes_cidr    = var.network.nodes_cidr
  pods_cidr     = var.network.pods_cidr
  services_cidr = var.network.services_cidr

  depends_on = [module.project_services]
}

module "gke" {
  source                     = "../gke"
  project_id                 = var.project_id
  name                       = local.name
  location                   = local.cluster_location
  network                    = module.network.network
  subnetwork                 = module.network.subnetwork
  pods_range_name            = module.network.pods_range_name
  services_range_name        = module.network.services_range_name
  master_ipv4_cidr           = var.network.master_cidr
  master_authorized_networks = var.master_authorized_networks
  release_channel            = var.release_channel
  deletion_protection        = var.deletion_protection
  labels                     = local.labels
  system_pool                = var.system_pool
  gpu_pool                   = var.gpu_pool
  tpu_pool                   = var.tpu_pool
}

module "storage" {
  source                       = "../storage"
  project_id                   = var.project_id
  name_prefix                  = "${var.project_id}-${local.name}"
  location                     = var.region
  force_destroy                = var.force_destroy
  labels                       = local.labels
  pipeline_root_retention_days = var.pipeline_root_retention_days

  depends_on = [module.project_services]
}

module "artifact_registry" {
  source        = "../artifact_registry"
  project_id    = var.project_id
  location      = var.region
  name          = local.name
  labels        = local.labels
  kms_key_name  = var.kms_key_name
  image_readers = ["serviceAccount:${module.gke.node_service_account}"]

  depends_on = [module.project_services]
}

module "iam" {
  source               = "../iam"
  project_id           = var.project_id
  region               = var.region
  name_prefix          = local.name
  pipeline_root_bucket = module.storage.pipeline_root_bucket
  registry_bucket      = module.storage.registry_bucket
  serving_logs_bucket  = module.storage.serving_logs_bucket
  images_repository    = module.artifact_registry.images_repository_name
  pipelines_repository = module.artifact_registry.pipelines_repository_name
  workload_pool        = module.gke.workload_pool
  github_repository    = var.github_repository
  github_ref           = var.github_ref
  # The Kubernetes accounts of infra/k8s and the Google account each acts as.
  kubernetes_service_accounts = {
    "kubeflow/pipeline-runner"       = "pipelines"
    "kubeflow/ml-pipeline-ui"        = "kfp-ui"
    "kubeflow/kubetfx-train-worker"  = "trainer"
    "kubetfx-serving/kubetfx-server" = "server"
  }
}

module "vertex" {
  source                = "../vertex"
  project_id            = var.project_id
  region                = var.region
  endpoint_id           = var.vertex_endpoint_id
  endpoint_display_name = local.name
  enable_tensorboard    = var.enable_tensorboard
  kms_key_name          = var.kms_key_name
  labels                = local.labels

  depends_on = [module.project_services]
}

module "kubeflow" {
  source = "../kubeflow"
  count  = var.install_kubeflow ? 1 : 0

  service_accounts = {
    pipelines = module.iam.emails["pipelines"]
    kfp_ui    = module.iam.emails["kfp-ui"]
    trainer   = module.iam.emails["trainer"]
    server    = module.iam.emails["server"]
  }
  model_registry  = "gs://${module.storage.registry_bucket}/models"
  serving_log_dir = "gs://${module.storage.serving_logs_bucket}"
  served_models   = var.served_models

  depends_on = [module.gke]
}

# Credentials for the kustomization provider in the env roots: the cluster's endpoint and
# CA, and Terraform's own short-lived Google access token.
data "google_client_config" "current" {}

locals {
  kubeconfig = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = "terraform"
    clusters        = [{ name = local.name, cluster = { server = "https://${module.gke.endpoint}", certificate-authority-data = module.gke.ca_certificate } }]
    users           = [{ name = "terraform", user = { token = data.google_client_config.current.access_token } }]
    contexts        = [{ name = "terraform", context = { cluster = local.name, user = "terraform" } }]
  })
}
