#!/usr/bin/env python3
"""Run a demisto-sdk command with the docker-image look-ups it makes answered locally.

Why: `demisto-sdk xsoar-lint` needs the Python version of each script's docker image. The SDK reads it from
a GitHub-hosted metadata file, then from the image tag (only `demisto/python3:<py>.<build>` tags carry it),
then from the Docker Hub API, then by pulling the image. Offline, any image that is not `demisto/python3`
(our scripts use `demisto/anthropic`) ends in a crash. This wrapper answers from the tag, then from the
small table below (the base image each image is built on, see demisto/dockerfiles `docker/<name>/Dockerfile`),
and never touches the network. Everything else is the unmodified SDK.

Usage (from the repository root, in .venv-tools):  .venv-tools/bin/python scripts/sdk_offline.py xsoar-lint FILE...
"""

from __future__ import annotations

import sys

# image repository -> Python version of its base image (demisto/dockerfiles docker/<name>/Dockerfile FROM line)
OFFLINE_PYTHON_VERSIONS = {
    "demisto/python3": "3.12",
    "demisto/anthropic": "3.12",  # FROM demisto/python3:3.12.x
}


def _patch() -> None:
    from demisto_sdk.commands.common import docker_helper
    from demisto_sdk.commands.common.docker_images_metadata import DockerImagesMetadata
    from packaging.version import Version

    @classmethod  # type: ignore[misc]
    def _no_github_metadata(cls, *args, **kwargs):  # noqa: ANN001, ANN202
        return cls.parse_obj({"docker_images": {}})

    def _from_table(image: str):  # noqa: ANN202
        repo = (image or "").split(":", 1)[0].removeprefix("docker.io/")
        version = OFFLINE_PYTHON_VERSIONS.get(repo)
        if version is None:
            raise RuntimeError(
                f"offline: unknown Python version for docker image {image!r}; add it to OFFLINE_PYTHON_VERSIONS "
                "in scripts/sdk_offline.py"
            )
        return Version(version)

    def _no_image_client(image: str):  # noqa: ANN202
        return _from_table(image)

    DockerImagesMetadata.get_instance_from = _no_github_metadata  # type: ignore[method-assign]
    docker_helper._get_python_version_from_dockerhub_api = _from_table
    docker_helper._get_python_version_from_image_client = _no_image_client


def main() -> int:
    _patch()
    from demisto_sdk.__main__ import app

    sys.argv = ["demisto-sdk", *sys.argv[1:]]
    return app()


if __name__ == "__main__":
    sys.exit(main())
