# State in Cloud Storage (versioned bucket, locking built in). The bucket is per
# organisation, so it is given at init, never here:
#   terraform init -backend-config="bucket=YOUR_STATE_BUCKET"
terraform {
  backend "gcs" {
    prefix = "kubetfx/dev"
  }
}
