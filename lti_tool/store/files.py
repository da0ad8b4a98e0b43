"""Writing secret files that several processes (gunicorn workers, the CLI) may create or read at once."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_exclusive(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Create `path` holding `data`, unless it exists. True if this call created it.

    The content is written to a temporary file first and then linked into place, so another process
    never sees the file half-written, and of two processes creating it at once exactly one wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
