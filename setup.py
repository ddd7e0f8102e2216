"""The kubetfx distribution.

Ranges here say what kubetfx works with; the exact versions that were installed and tested
together live only in requirements/lock.txt (pipelines) and requirements/serving-lock.txt
(the model server), which `make setup` installs. The TFX libraries fix the line: TFDV 1.16.1
is the newest with wheels for glibc 2.36, and it requires TensorFlow 2.16.
"""

from setuptools import find_packages, setup

TFX_LINE = [
    "tensorflow>=2.16,<2.17",
    "tf-keras>=2.16,<2.17",
    "tensorflow-data-validation>=1.16.1,<1.17",
    "tensorflow-transform>=1.16,<1.17",
    "tensorflow-model-analysis>=0.47,<0.48",
    "fairness-indicators>=0.47,<0.48",
    "tensorflow-metadata>=1.16,<1.17",
    "tfx-bsl>=1.16.1,<1.17",
    "tensorflow-serving-api>=2.16,<2.17",  # push writes warmup requests (PredictionLog)
    "apache-beam[gcp]>=2.61,<2.62",
    "pyarrow>=10,<11",
    "protobuf>=4.25,<5",
    "numpy<2",
    "pandas<2",
]

setup(
    name="kubetfx",
    version="0.1.0",
    description="TFX-style MLOps on Kubeflow Pipelines: one pipeline, local and on the cloud.",
    python_requires=">=3.11.2,<3.12",
    packages=find_packages(include=["kubetfx", "kubetfx.*"]),
    package_data={
        "kubetfx.components": ["defaults/*.yaml"],
        "kubetfx.pipelines": ["defaults/*.yaml"],
    },
    install_requires=[
        *TFX_LINE,
        "kfp>=2.13,<2.14",
        "kfp-kubernetes>=1.5,<1.6",
        "google-cloud-aiplatform>=1.60",
        "kubernetes>=30",
        "palmerpenguins>=0.1.6",
        "pydantic>=2",
        "pyyaml>=6",
        "scipy>=1.10",
        "keras-tuner>=1.4,<1.5",  # tune: the oracles and KerasTuner's distributed mode
        "scikit-learn>=1.3",  # tune.algorithm bayesian (KerasTuner's Gaussian process)
        "urllib3>=2",
        "docker>=7",  # runner docker: kfp.local.DockerRunner (make e2e)
    ],
    extras_require={
        # The model server's own environment (kserve needs pandas >= 2.2, which TFDV forbids,
        # so it cannot share the pipeline environment): pip install --no-deps kubetfx plus
        # this extra's requirements, as requirements/serving-lock.txt pins them.
        "server": [
            "tensorflow>=2.16,<2.17",
            "tensorflow-serving-api>=2.16,<2.17",  # gRPC services, warmup requests
            "grpcio>=1.62",
            "protobuf>=4.21,<5",
            "kserve>=0.15,<0.16",
            "fastapi>=0.110",
            "uvicorn>=0.30",
            "orjson>=3.9",
            "prometheus-client>=0.20",
            "pydantic>=2",
            "pyyaml>=6",
        ],
        "dev": [
            "pytest>=8",
            "ruff>=0.6",
            "checkov>=3",
            "kubernetes-validate>=1.30",
            "bc-python-hcl2>=0.4",  # checkov's fork of python-hcl2 (the same hcl2 module)
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6",
            "great-tables>=0.20,<0.21",
            "vega-datasets>=0.9,<0.10",
            "tritonclient[http,grpc]>=2.49,<2.50",  # the last for grpcio 1.65 (Beam 2.61)
        ],
    },
    entry_points={"console_scripts": ["kubetfx = kubetfx.cli:main"]},
)
