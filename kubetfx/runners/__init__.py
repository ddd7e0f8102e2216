"""Where a pipeline runs: locally with kfp.local, or submitted to Kubeflow Pipelines or Vertex."""
