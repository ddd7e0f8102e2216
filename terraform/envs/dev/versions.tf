terraform {
  required_version = "~> 1.11.4"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "6.31.0"
    }
    kustomization = {
      source  = "kbst/kustomization"
      version = "0.9.6"
    }
  }
}
