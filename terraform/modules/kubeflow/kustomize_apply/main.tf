# Builds one kustomization (the given resources plus patches) in Terraform
# and applies every object it yields with server-side apply, in kustomize's priority order:
# namespaces and CRDs first, then everything else, then webhooks. Each object is its own
# resource in the state, so `plan` shows drift per object and `destroy` deletes them.
data "kustomization_overlay" "this" {
  resources = var.resources

  dynamic "patches" {
    for_each = var.patches
    content {
      patch = patches.value
    }
  }

  kustomize_options {
    # The resources live outside this in-memory kustomization's root (infra/k8s).
    load_restrictor = "none"
  }
}

locals {
  # ids are GROUP_VERSION/KIND/NAMESPACE/NAME; drop the kinds something else owns.
  ids = [
    for prio in data.kustomization_overlay.this.ids_prio : toset([
      for id in prio : id if !contains(var.exclude_kinds, split("/", id)[1])
    ])
  ]
}

resource "kustomization_resource" "first" {
  for_each = local.ids[0]

  manifest = data.kustomization_overlay.this.manifests[each.value]
}

resource "kustomization_resource" "main" {
  for_each = local.ids[1]

  manifest = data.kustomization_overlay.this.manifests[each.value]
  wait     = var.wait

  timeouts {
    create = "15m"
    update = "15m"
  }

  depends_on = [kustomization_resource.first]
}

resource "kustomization_resource" "last" {
  for_each = local.ids[2]

  manifest = data.kustomization_overlay.this.manifests[each.value]
  wait     = var.wait

  depends_on = [kustomization_resource.main]
}
