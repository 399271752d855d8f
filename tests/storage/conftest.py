"""Media on S3-compatible object storage: a real S3 server (moto's standalone server) on loopback.

The server runs as a child process for the whole session, like the Weibo sandbox; nothing leaves
the machine. The storage settings a test switches to are the ones ``config/settings.py`` builds
when ``AWS_STORAGE_BUCKET_NAME`` is set, read from a fresh process started with those variables,
so what is tested is the production configuration and not a copy of it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import BASE_DIR

BUCKET = "club-media"
REGION = "us-east-1"
# moto accepts any key pair; a real deployment reads these from the environment (boto3's chain).
ACCESS_KEY = "club-test-access"
SECRET_KEY = "club-test-secret"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def s3_environment(endpoint: str, bucket: str = BUCKET) -> dict[str, str]:
    """The environment a web or worker process of an S3 deployment runs with."""
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        AWS_STORAGE_BUCKET_NAME=bucket,
        AWS_S3_ENDPOINT_URL=endpoint,
        AWS_S3_REGION_NAME=REGION,
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
    )


def run_with_s3_settings(endpoint: str, code: str) -> str:
    """Run ``code`` in a fresh Python process configured for object storage; its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=BASE_DIR, env=s3_environment(endpoint), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    default_backend: dict

    @property
    def host(self) -> str:
        return self.endpoint.split("://", 1)[1]

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )  # fmt: skip

    def keys(self) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def anonymous_get(self, key: str) -> requests.Response:
        """A plain, unsigned GET of the object's bucket URL, as a browser would send it."""
        return requests.get(f"{self.endpoint}/{self.bucket}/{key}", timeout=10)

    def empty(self) -> None:
        client = self.client()
        for key in self.keys():
            client.delete_object(Bucket=self.bucket, Key=key)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    """moto's S3 server on a free loopback port, with one private bucket."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("s3") / "moto.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    log_text = log_path.read_text()
                    raise RuntimeError(f"moto server did not start:\n{log_text}") from error
                time.sleep(0.1)
        backend = json.loads(
            run_with_s3_settings(
                endpoint,
                "import json; from django.conf import settings\n"
                "print(json.dumps(settings.STORAGES['default']))",
            )
        )
        server = S3Server(endpoint=endpoint, bucket=BUCKET, default_backend=backend)
        server.client().create_bucket(Bucket=BUCKET, ACL="private")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def object_storage(s3_server, settings, tmp_path) -> S3Server:
    """Django's default storage (uploads, renditions, share cards, exports) is the bucket.

    MEDIA_ROOT points at an empty directory, so a test can show nothing went to local disk.
    """
    from django.core.files.storage import default_storage
    from storages.backends.s3 import S3Storage
    from wagtail.images import get_image_model

    backend = {
        **s3_server.default_backend,
        "OPTIONS": {
            **s3_server.default_backend["OPTIONS"],
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
        },
    }
    media_root = tmp_path / "media"
    media_root.mkdir()
    settings.MEDIA_ROOT = media_root
    settings.STORAGES = {**settings.STORAGES, "default": backend}
    # Wagtail's image and rendition fields hold Django's lazy default storage, which the
    # setting change resets; a field holding a storage of its own would still write to disk.
    image_model = get_image_model()
    for storage in (
        default_storage,
        image_model._meta.get_field("file").storage,
        image_model.get_rendition_model()._meta.get_field("file").storage,
    ):
        assert isinstance(storage, S3Storage), storage
    yield s3_server
    s3_server.empty()


def local_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]
