# A private, VPC-native GKE Standard cluster: nodes without public IPs, Workload Identity (no
# node credentials in pods), shielded nodes, Dataplane V2 (network policies enforced), and a
# release channel for upgrades. The default node pool is replaced by three autoscaled pools:
# system (CPU: Kubeflow, KServe, the pipeline steps), GPU training and TPU v5e training. The
# accelerator pools are tainted so that only pods that tolerate the device land on them
# (kubetfx compiles exactly those tolerations) and scale to zero when idle.

locals {
  workload_pool = "${var.project_id}.svc.id.goog"
  node_labels   = merge(var.labels, { "kubetfx-cluster" = var.name })
  # Chips per TPU VM from the machine type (ct5lp-hightpu-4t: 4) and per slice from the
  # topology (2x4: 8): a slice larger than one VM is a multi-host slice, which needs a compact
  # placement policy and scales a whole slice at a time.
  tpu_chips_per_host = tonumber(regex("-([0-9]+)t$", var.tpu_pool.machine_type)[0])
  tpu_chips          = tonumber(split("x", var.tpu_pool.topology)[0]) * tonumber(split("x", var.tpu_pool.topology)[1])
  tpu_hosts          = max(1, ceil(local.tpu_chips / local.tpu_chips_per_host))
}

resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "${var.name}-nodes"
  display_name = "GKE nodes of ${var.name} (logs, metrics, image pulls)"
}

# What a node itself needs; workloads get their own identities through Workload Identity.
resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.nodes.member
}

resource "google_container_cluster" "this" {
  # checkov:skip=CKV_GCP_12:Dataplane V2 (ADVANCED_DATAPATH) enforces network policies itself; the Calico network_policy addon conflicts with it
  # checkov:skip=CKV_GCP_69:the default node pool is removed at creation; every node pool below sets GKE_METADATA
  # checkov:skip=CKV_GCP_21:resource_labels is set (merge of var.labels and the cluster name); checkov cannot evaluate merge()
  # checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Google Workspace domain; set rbac_security_group when you have one
  project  = var.project_id
  name     = var.name
  location = var.location
  # A zonal cluster has one control plane (free tier covers one zonal cluster's management
  # fee); a regional one replicates it across three zones.
  node_locations      = length(var.node_zones) > 0 ? var.node_zones : null
  deletion_protection = var.deletion_protection

  network         = var.network
  subnetwork      = var.subnetwork
  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {
    cluster_secondary_range_name  = var.pods_range_name
    services_secondary_range_name = var.services_range_name
  }
  datapath_provider = "ADVANCED_DATAPATH"

  # Node pools are managed below; GKE needs a default pool at creation and removes it.
  remove_default_node_pool = true
  initial_node_count       = 1

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = var.private_endpoint
    master_ipv4_cidr_block  = var.master_ipv4_cidr
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.master_authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  workload_identity_config {
    workload_pool = local.workload_pool
  }

  release_channel {
    channel = var.release_channel
  }

  enable_shielded_nodes       = true
  enable_intranode_visibility = true
  enable_legacy_abac          = false

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  # The project's Binary Authorization policy (allow-all until you set one) is enforced.
  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  addons_config {
    http_load_balancing {
      disabled = false
    }
    horizontal_pod_autoscaling {
      disabled = false
    }
    gce_persistent_disk_csi_driver_config {
      enabled = true
    }
    # Lets pods mount a bucket (e.g. the model registry) as a file system.
    gcs_fuse_csi_driver_config {
      enabled = true
    }
  }

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }

  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
    managed_prometheus {
      enabled = true
    }
  }

  maintenance_policy {
    recurring_window {
      start_time = "2025-01-04T02:00:00Z"
      end_time   = "2025-01-04T08:00:00Z"
      recurrence = var.maintenance_recurrence
    }
  }

  cost_management_config {
    enabled = true
  }

  dynamic "authenticator_groups_config" {
    for_each = var.rbac_security_group == null ? [] : [var.rbac_security_group]
    content {
      security_group = authenticator_groups_config.value
    }
  }

  resource_labels = local.node_labels
}

# Kubeflow Pipelines, KServe, Knative and the CPU pipeline steps.
resource "google_container_node_pool" "system" {
  project  = var.project_id
  name     = "system"
  cluster  = google_container_cluster.this.id
  location = var.location

  autoscaling {
    min_node_count = var.system_pool.min_nodes
    max_node_count = var.system_pool.max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.system_pool.machine_type
    disk_size_gb    = var.system_pool.disk_size_gb
    disk_type       = "pd-balanced"
    image_type      = "COS_CONTAINERD"
    spot            = false
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = merge(local.node_labels, { "kubetfx-pool" = "system" })
    metadata        = { disable-legacy-endpoints = "true" }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}

# GPU training: scales from zero when a step asks for nvidia.com/gpu. GKE installs the NVIDIA
# driver itself (gpu_driver_installation_config): no driver DaemonSet to maintain.
resource "google_container_node_pool" "gpu" {
  count = var.gpu_pool.enabled ? 1 : 0

  project        = var.project_id
  name           = "gpu-${replace(var.gpu_pool.accelerator_type, "nvidia-", "")}"
  cluster        = google_container_cluster.this.id
  location       = var.location
  node_locations = length(var.gpu_pool.zones) > 0 ? var.gpu_pool.zones : null

  autoscaling {
    min_node_count = var.gpu_pool.min_nodes
    max_node_count = var.gpu_pool.max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.gpu_pool.machine_type
    disk_size_gb    = var.gpu_pool.disk_size_gb
    disk_type       = "pd-balanced"
    image_type      = "COS_CONTAINERD"
    spot            = var.gpu_pool.spot
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = merge(local.node_labels, { "kubetfx-pool" = "gpu" })
    metadata        = { disable-legacy-endpoints = "true" }

    guest_accelerator {
      type  = var.gpu_pool.accelerator_type
      count = var.gpu_pool.accelerator_count
      gpu_driver_installation_config {
        gpu_driver_version = var.gpu_pool.driver_version
      }
    }

    taint {
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NO_SCHEDULE"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}

# TPU v5e training (TPUStrategy): GKE labels the nodes with the accelerator and topology that
# kubetfx's node selectors name (cloud.google.com/gke-tpu-accelerator, gke-tpu-topology).
resource "google_container_node_pool" "tpu" {
  count = var.tpu_pool.enabled ? 1 : 0

  project        = var.project_id
  name           = "tpu-v5e-${var.tpu_pool.topology}"
  cluster        = google_container_cluster.this.id
  location       = var.location
  node_locations = var.tpu_pool.zones

  autoscaling {
    min_node_count = var.tpu_pool.min_slices * local.tpu_hosts
    max_node_count = var.tpu_pool.max_slices * local.tpu_hosts
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  dynamic "placement_policy" {
    for_each = local.tpu_hosts > 1 ? [1] : []
    content {
      type         = "COMPACT"
      tpu_topology = var.tpu_pool.topology
    }
  }

  node_config {
    machine_type    = var.tpu_pool.machine_type
    disk_size_gb    = var.tpu_pool.disk_size_gb
    disk_type       = "pd-balanced"
    image_type      = "COS_CONTAINERD"
    spot            = var.tpu_pool.spot
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = merge(local.node_labels, { "kubetfx-pool" = "tpu" })
    metadata        = { disable-legacy-endpoints = "true" }

    taint {
      key    = "google.com/tpu"
      value  = "present"
      effect = "NO_SCHEDULE"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}
