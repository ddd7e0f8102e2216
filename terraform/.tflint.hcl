# tflint configuration (CI template infra/ci/github/terraform.yaml runs `tflint --init` and
# `tflint --recursive`).
plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

plugin "google" {
  enabled = true
  version = "0.32.0"
  source  = "github.com/terraform-linters/tflint-ruleset-google"
}
