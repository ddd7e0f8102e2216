"""kubetfx: TFX-style MLOps on Kubeflow Pipelines, one package.

components/ (one subpackage per stage), serving/ (the model server), pipelines/ (the DAGs
and their config), runners/ (local, Kubeflow, Vertex) and cli.py (the `kubetfx` command).
Nothing is imported here: `import kubetfx.serving` in the server's environment must not
pull in the pipeline side.
"""
