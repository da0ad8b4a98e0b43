"""A real S3-compatible server for the evidence storage tests: moto's server on a loopback port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# moto accepts any credentials; they only have to be present and well-formed for boto3 to sign requests.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}
REGION = "us-east-1"


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's threaded server on 127.0.0.1 (a free port); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)


def new_bucket(client: Any) -> str:
    name = f"evidence-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    return name


def object_keys(client: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def open_uploads(client: Any, bucket: str) -> list[str]:
    """Multipart uploads started and neither completed nor aborted."""
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def empty_bucket(client: Any, bucket: str) -> None:
    for key in object_keys(client, bucket):
        client.delete_object(Bucket=bucket, Key=key)
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    client.delete_bucket(Bucket=bucket)
