"""Run in a child process by tests/test_evidence_s3.py: upload and download one file through the S3 backend
and print how much memory each direction needed beyond what was in use before it.

A separate process, because moto's server (in the test process) keeps the uploaded object in memory too.
Usage: python -m tests.s3_memory_probe ENDPOINT BUCKET FILE KEY
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import tracemalloc

from lti_tool.portfolio.evidence.storage import CHUNK
from lti_tool.portfolio.evidence.storage_s3 import S3EncryptedStorage


def _rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main(endpoint: str, bucket: str, path: str, key: str) -> dict[str, int | str]:
    store = S3EncryptedStorage(bucket, key, endpoint_url=endpoint, region="us-east-1")
    store.exists("0" * 64)  # warm up: the client loads its service model and opens a connection
    rss_before = _rss_peak_bytes()
    tracemalloc.start()
    with open(path, "rb") as fh:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = store.put(fh)
        put_peak = tracemalloc.get_traced_memory()[1] - base
    digest = hashlib.sha256()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    with store.get(result.sha256) as blob:
        while chunk := blob.read(CHUNK):
            digest.update(chunk)
    get_peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "sha256": result.sha256,
        "size": result.size,
        "read_sha256": digest.hexdigest(),
        "put_peak": put_peak,
        "get_peak": get_peak,
        "rss_growth": _rss_peak_bytes() - rss_before,
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
