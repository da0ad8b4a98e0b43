"""The demo course's activities: the built-in placements plus those an instructor added by deep linking.

Like Moodle, the demo creates a gradebook column from a deep-linked item's lineItem and then sends that
column's URL as the `lineitem` claim in launches of the activity (one column is linked to it).
"""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.demo_platform import people
from lti_tool.demo_platform.models import DemoDeepLink, DemoLineItem
from lti_tool.store.db import db


def deep_linked_id(link_row_id: int, index: int) -> str:
    return f"dl-{link_row_id}-{index}"


def all_placements() -> list[people.DemoPlacement]:
    out = list(people.PLACEMENTS)
    columns = {
        i.resource_link_id: i.id
        for i in db.session.scalars(select(DemoLineItem).where(DemoLineItem.resource_link_id.like("dl-%")))
    }
    for row in db.session.scalars(select(DemoDeepLink).order_by(DemoDeepLink.id)):
        for index, item in enumerate(row.items or []):
            if not isinstance(item, dict) or item.get("type") != "ltiResourceLink":
                continue
            link_id = deep_linked_id(row.id, index)
            custom = item.get("custom")
            if not isinstance(custom, dict):
                custom = {}
            out.append(
                people.DemoPlacement(
                    link_id,
                    str(item.get("title") or "Deep-linked activity"),
                    {str(k): str(v) for k, v in custom.items()},
                    columns.get(link_id),
                )
            )
    return out


def find(link_id: str) -> people.DemoPlacement | None:
    return next((p for p in all_placements() if p.id == link_id), None)
