# Installs, in three ordered stages, what kubetfx runs on in the cluster:
#   1. Kubeflow Pipelines' cluster-scoped part (infra/k8s/kfp/cluster-scoped), cert-manager,
#      Knative Serving with Kourier (KServe's Serverless mode: canaryTrafficPercent);
#   2. Kubeflow Pipelines standalone (infra/k8s/kfp) and KServe's controller;
#   3. KServe's serving runtimes and the project's own objects (infra/k8s: the serving
#      namespace, RBAC for the train and push steps, the model server's account and config).
# The kustomizations in infra/k8s are the source of truth; this module only patches in the
# values Terraform knows (Google service accounts, buckets). InferenceServices are left out:
# the push step creates and rolls them (a Terraform-managed copy would fight it).
#
# Why the kbst/kustomization provider (not kubectl in a local-exec, not kubernetes_manifest):
# it builds kustomizations (remote bases included) without a kubectl binary, tracks every
# object in the state (drift in `plan`, deletion on `destroy`), and applies custom resources
# whose CRDs are created in the same apply, which kubernetes_manifest cannot plan.

locals {
  k8s = "${path.module}/../../../infra/k8s"

  workload_identity = {
    "kubeflow/pipeline-runner"       = var.service_accounts.pipelines
    "kubeflow/ml-pipeline-ui"        = var.service_accounts.kfp_ui
    "kubeflow/kubetfx-train-worker"  = var.service_accounts.trainer
    "kubetfx-serving/kubetfx-server" = var.service_accounts.server
  }
  annotate = {
    for ksa, gsa in local.workload_identity : ksa => yamlencode({
      apiVersion = "v1"
      kind       = "ServiceAccount"
      metadata = {
        namespace   = split("/", ksa)[0]
        name        = split("/", ksa)[1]
        annotations = { "iam.gke.io/gcp-service-account" = gsa }
      }
    })
  }

  server_config = yamlencode({
    serving = {
      registry     = var.model_registry
      models       = var.served_models
      poll_seconds = 30
      labels       = { champion = "registry", challenger = "latest" }
      traffic      = { mode = "canary", challenger_percent = 0 }
      request_log  = { dir = var.serving_log_dir, sample_rate = var.request_log_sample_rate }
    }
  })

  knative = "https://github.com/knative/serving/releases/download/knative-v${var.knative_version}"
  kserve  = "https://github.com/kserve/kserve/releases/download/v${var.kserve_version}"
}

module "prerequisites" {
  source = "./kustomize_apply"

  resources = [
    "${local.k8s}/kfp/cluster-scoped",
    "https://github.com/cert-manager/cert-manager/releases/download/v${var.cert_manager_version}/cert-manager.yaml",
    "${local.knative}/serving-crds.yaml",
    "${local.knative}/serving-core.yaml",
    "https://github.com/knative/net-kourier/releases/download/knative-v${var.knative_version}/kourier.yaml",
  ]
  patches = [yamlencode({
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata   = { namespace = "knative-serving", name = "config-network" }
    data       = { "ingress-class" = "kourier.ingress.networking.knative.dev" }
  })]
}

module "platform" {
  source = "./kustomize_apply"

  resources = ["${local.k8s}/kfp", "${local.kserve}/kserve.yaml"]
  patches   = [local.annotate["kubeflow/pipeline-runner"], local.annotate["kubeflow/ml-pipeline-ui"]]

  depends_on = [module.prerequisites]
}

module "project" {
  source = "./kustomize_apply"

  resources = [local.k8s, "${local.kserve}/kserve-cluster-resources.yaml"]
  patches = [
    local.annotate["kubeflow/kubetfx-train-worker"],
    local.annotate["kubetfx-serving/kubetfx-server"],
    yamlencode({
      apiVersion = "v1"
      kind       = "ConfigMap"
      metadata   = { namespace = "kubetfx-serving", name = "kubetfx-server-config" }
      data       = { "config.yaml" = local.server_config }
    }),
  ]
  exclude_kinds = ["InferenceService"]

  depends_on = [module.platform]
}
