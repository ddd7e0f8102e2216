"""batch_predict (TFX's BulkInferrer): a registry model over CSV, Parquet or TFRecord rows."""
