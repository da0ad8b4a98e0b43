"""Finding or creating, once per placement, the line items (gradebook columns) scores go to.

- The launch's `lineitem` claim wins for the main column (Moodle sends one only when a single line item is
  linked to the activity, e.g. the one deep linking created).
- Otherwise the platform's line items for the resource link are searched by our tag; for the main column a
  single untagged item of the resource link (the activity's own column) also counts.
- Otherwise the tool creates one (label, scoreMaximum, resourceId, tag and resourceLinkId, which Open edX
  needs), if the platform granted the lineitem scope.
The result is remembered in GradeLineItem. Creation is serialised per placement and column (an advisory
lock on PostgreSQL, a process lock on SQLite) so two workers never create the same column twice.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.lineitem import LineItem
from pylti1p3.utils import add_param_to_url
from sqlalchemy import delete, func, select

from lti_tool.grading.models import MAIN, GradeLineItem
from lti_tool.grading.outbox import SCOPE_LINEITEM, SCOPE_LINEITEM_RO
from lti_tool.grading.scores import fit_label
from lti_tool.grading.services import MAX_PAGES
from lti_tool.launch.models import ResourceLink
from lti_tool.store.db import db


class LineItemUnavailable(Exception):
    """The platform offers no way to reach a line item for this placement (not worth retrying)."""


_local_locks: dict[tuple[int, str], threading.Lock] = {}
_local_guard = threading.Lock()


@contextlib.contextmanager
def line_item_lock(link_id: int, target: str) -> Iterator[None]:
    if db.engine.dialect.name == "postgresql":
        key = zlib.crc32(f"grade-line-item:{link_id}:{target}".encode())
        # A session-level lock on its own connection: the caller's transaction may commit meanwhile.
        with db.engine.connect() as conn:
            conn.execute(select(func.pg_advisory_lock(key)))
            try:
                yield
            finally:
                conn.execute(select(func.pg_advisory_unlock(key)))
                conn.commit()
        return
    with _local_guard:
        lock = _local_locks.setdefault((link_id, target), threading.Lock())
    with lock:
        yield


def remembered(link_id: int, target: str) -> GradeLineItem | None:
    return db.session.scalar(
        select(GradeLineItem).where(GradeLineItem.resource_link_id == link_id, GradeLineItem.target == target)
    )


def remembered_urls(link_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """The remembered line item URLs of these placements, by (link id, target), in one query."""
    rows = db.session.execute(
        select(GradeLineItem.resource_link_id, GradeLineItem.target, GradeLineItem.url).where(
            GradeLineItem.resource_link_id.in_(set(link_ids))
        )
    )
    return {(r.resource_link_id, r.target): r.url for r in rows}


def forget(link_id: int, target: str) -> None:
    """The platform says the line item is gone: find or create it again next time."""
    db.session.execute(
        delete(GradeLineItem).where(GradeLineItem.resource_link_id == link_id, GradeLineItem.target == target)
    )
    db.session.commit()


def _remember(link: ResourceLink, target: str, url: str, source: str, spec: dict[str, Any]) -> GradeLineItem:
    row = remembered(link.id, target)
    if row is None:
        row = GradeLineItem(resource_link_id=link.id, target=target)
        db.session.add(row)
    row.url, row.source = url, source
    row.label = str(spec.get("label") or "")[:500]
    row.score_maximum = spec.get("scoreMaximum")
    db.session.commit()
    return row


def _matches(item: dict[str, Any], link: ResourceLink, tag: str) -> bool:
    return str(item.get("resourceLinkId") or "") == link.resource_link_id and (item.get("tag") or "") == tag


def find_line_item(
    ags: AssignmentsGradesService, link: ResourceLink, target: str, spec: dict[str, Any]
) -> dict[str, Any] | None:
    assert link.ags_lineitems_url
    # Ask the platform to filter (AGS query parameters), and check again here: not every platform filters.
    url: str | None = add_param_to_url(link.ags_lineitems_url, "resource_link_id", link.resource_link_id)
    tagged: list[dict[str, Any]] = []
    untagged: list[dict[str, Any]] = []
    pages = 0
    while url and pages < MAX_PAGES:
        pages += 1
        items, url = ags.get_lineitems_page(url)
        for item in items:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            if _matches(item, link, spec["tag"]):
                tagged.append(item)
            elif _matches(item, link, ""):
                untagged.append(item)
    if tagged:
        return tagged[0]
    if target == MAIN and len(untagged) == 1:
        return untagged[0]
    return None


def create_line_item(ags: AssignmentsGradesService, link: ResourceLink, spec: dict[str, Any]) -> dict[str, Any]:
    assert link.ags_lineitems_url
    item = (
        LineItem()
        .set_label(fit_label(spec["label"]))  # jobs queued before the limit was known may carry a longer one
        .set_score_maximum(spec["scoreMaximum"])
        .set_resource_id(spec["resourceId"])
        .set_tag(spec["tag"])
        .set_resource_link_id(link.resource_link_id)
    )
    response = ags._service_connector.make_service_request(
        ags._service_data["scope"],
        link.ags_lineitems_url,
        is_post=True,
        data=item.get_value(),
        content_type="application/vnd.ims.lis.v2.lineitem+json",
        accept="application/vnd.ims.lis.v2.lineitem+json",
    )
    body = response["body"]
    if not isinstance(body, dict) or not body.get("id"):
        raise LineItemUnavailable("The platform created the line item but did not say its id (URL).")
    return body


def ensure_line_item(ags: AssignmentsGradesService, link: ResourceLink, target: str, spec: dict[str, Any]) -> str:
    """The URL of the line item for this placement and column, finding or creating it the first time."""
    if target == MAIN and link.ags_lineitem_url:
        row = remembered(link.id, target)
        if row is None or row.url != link.ags_lineitem_url:
            with line_item_lock(link.id, target):  # two workers' first scores must not both insert the row
                db.session.expire_all()
                row = remembered(link.id, target)
                if row is None or row.url != link.ags_lineitem_url:
                    _remember(link, target, link.ags_lineitem_url, "launch", spec)
        return link.ags_lineitem_url
    row = remembered(link.id, target)
    if row is not None:
        return row.url
    scopes = set(link.ags_scopes or [])
    can_read = bool(scopes & {SCOPE_LINEITEM, SCOPE_LINEITEM_RO})
    can_create = SCOPE_LINEITEM in scopes
    if not link.ags_lineitems_url or not (can_read or can_create):
        raise LineItemUnavailable(
            "The platform gave no line item for this activity and does not let the tool read or create line "
            "items. Ask the LMS administrator to allow the tool to manage grades (AGS line items)."
        )
    # Make sure the token is at hand before holding the lock (and so the lock is never held for a token).
    ags._service_connector.get_access_token(ags._service_data["scope"])
    with line_item_lock(link.id, target):
        db.session.expire_all()
        row = remembered(link.id, target)
        if row is not None:
            return row.url
        found = find_line_item(ags, link, target, spec) if can_read else None
        if found is not None:
            return _remember(link, target, str(found["id"]), "found", spec).url
        if not can_create:
            raise LineItemUnavailable(
                "No line item for this activity was found and the platform does not let the tool create one "
                "(scope lineitem). Link a gradebook column to the activity in the LMS."
            )
        created = create_line_item(ags, link, spec)
        return _remember(link, target, str(created["id"]), "created", spec).url
