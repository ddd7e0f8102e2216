terraform {
  required_version = ">= 1.11.0, < 2.0.0"
  required_providers {
    kustomization = {
      source  = "kbst/kustomization"
      version = "~> 0.9.6"
    }
  }
}
