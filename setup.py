"""The kubetfx distribution. Versions live in requirements/lock.txt only."""

from setuptools import find_packages, setup

setup(
    name="kubetfx",
    version="0.1.0",
    description="TFX-style MLOps on Kubeflow Pipelines: one pipeline, local and on the cloud.",
    python_requires=">=3.11.2,<3.12",
    packages=find_packages(include=["kubetfx", "kubetfx.*"]),
    package_data={"kubetfx.pipelines": ["defaults/*.yaml"]},
    install_requires=[
        "apache-beam[gcp]",
        "google-cloud-aiplatform",
        "kfp",
        "kfp-kubernetes",
        "palmerpenguins",
        "pyarrow",
        "pydantic",
        "pyyaml",
        "tensorflow",
        "tensorflow-data-validation",
        "tensorflow-metadata",
        "tfx-bsl",
    ],
    entry_points={"console_scripts": ["kubetfx = kubetfx.cli:main"]},
)
