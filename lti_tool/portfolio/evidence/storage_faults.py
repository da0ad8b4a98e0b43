"""When the evidence storage itself fails while a file is stored: a full disk or bucket (507) or a storage
that does not answer (503), told to the learner in words, logged for the operator.

The caller's upload transaction rolls back and removes any blob already written, so nothing of the attempt
is kept; the messages say so.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flask_babel import gettext

from lti_tool.portfolio.evidence.storage import StorageError, StorageFull
from lti_tool.web.errors import UserError

log = logging.getLogger(__name__)
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class EvidenceStorageFull(UserError):
    status = 507
    title = "Storage full"


class EvidenceStorageUnavailable(UserError):
    status = 503
    title = "Please try again in a moment"
    retry_after = 60  # seconds: a storage outage rarely clears faster


def is_full(exc: BaseException) -> bool:
    return isinstance(exc, StorageFull) or (isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS)


@contextmanager
def storage_faults(filename: str) -> Iterator[None]:
    """Turns a storage failure while `filename` is written into a refusal a person can read."""
    try:
        yield
    except (StorageError, OSError) as exc:
        if is_full(exc):
            log.error("evidence storage is full: could not store %r: %s", filename, exc)
            raise EvidenceStorageFull(
                gettext(
                    "'%(name)s' could not be saved because the tool's file storage is full. Nothing was saved.",
                    name=filename,
                ),
                hint="This is a problem on our side, not with your file, and it has been logged for the tool "
                "administrators. Please try again later.",
            ) from exc
        log.error("evidence storage failed while storing %r: %s", filename, exc, exc_info=exc)
        raise EvidenceStorageUnavailable(
            gettext(
                "'%(name)s' could not be saved because the tool's file storage did not respond. Nothing was saved.",
                name=filename,
            ),
            hint="Wait a minute and upload it again. If it keeps happening, tell the tool administrators.",
        ) from exc
