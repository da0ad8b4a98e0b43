"""A learner (or staff member) using the tool through real launches, for the portfolio tests."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from sqlalchemy import select

from lti_tool.launch.models import ToolSession
from lti_tool.portfolio.models import Portfolio
from lti_tool.store.db import db
from tests.lti_helpers import CLAIM, LEARNER, TestPlatform


class Browser:
    """One person's browser: its own cookies, a launch, and form posts carrying the CSRF token."""

    def __init__(
        self,
        app: Flask,
        platform: TestPlatform,
        sub: str,
        *,
        roles: list[str] | None = None,
        link: str = "link-1",
        custom: dict[str, str] | None = None,
        deployment_id: str | None = None,
        name: str | None = None,
    ) -> None:
        self.app = app
        self.client = app.test_client()
        self.platform = platform
        self.sub = sub
        self.roles = roles or [LEARNER]
        self.link = link
        self.custom = custom
        self.deployment_id = deployment_id
        self.name = name or sub.replace("-", " ").title()
        self.last_launch: Any = None

    def launch(self) -> Any:
        overrides: dict[str, Any] = {
            "sub": self.sub,
            "name": self.name,
            "CLAIM_roles": self.roles,
            "CLAIM_resource_link": {"id": self.link, "title": "Accreditation portfolio"},
        }
        if self.custom is not None:
            overrides["CLAIM_custom"] = self.custom
        if self.deployment_id is not None:
            overrides[CLAIM + "deployment_id"] = self.deployment_id
        resp = self.platform.launch(self.client, **overrides)
        assert resp.status_code == 303, resp.data
        self.last_launch = resp
        return self.client.get(resp.location)

    @property
    def session(self) -> ToolSession:
        cookie = self.client.get_cookie("lti_tool_session")
        assert cookie is not None, "launch first"
        sess = db.session.get(ToolSession, cookie.value)
        assert sess is not None
        return sess

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        body = {"csrf_token": self.csrf, **(data or {})}
        if any(isinstance(v, tuple) or (isinstance(v, list) and v and isinstance(v[0], tuple)) for v in body.values()):
            kwargs.setdefault("content_type", "multipart/form-data")
        return self.client.post(url, data=body, **kwargs)

    # --- portfolio shortcuts ---
    def start(self, route: str = "training") -> Portfolio:
        """Launch and make sure the portfolio for this placement exists."""
        page = self.launch()
        while page.status_code in (302, 303):
            page = self.get(page.location)
        if b"Which route are you on?" in page.data:
            resp = self.post("/portfolio/placement", {"route": route})
            assert resp.status_code == 303, resp.data
        return self.portfolio()

    def portfolio(self) -> Portfolio:
        sess = self.session
        found = db.session.scalar(
            select(Portfolio).where(
                Portfolio.user_id == sess.user_id, Portfolio.resource_link_id == sess.resource_link_id
            )
        )
        assert found is not None
        return found

    def add_item(
        self,
        portfolio_id: int,
        *,
        files: list[tuple[bytes, str]],
        criteria: list[int],
        title: str = "Monitoring report",
        kind: str = "work_product",
        **fields: Any,
    ) -> Any:
        data = {
            "kind": kind,
            "title": title,
            "description": "What I did.",
            "criteria": [str(c) for c in criteria],
            "files": [(io.BytesIO(content), name) for content, name in files],
            **fields,
        }
        return self.post(f"/portfolio/{portfolio_id}/evidence/new", data, content_type="multipart/form-data")

    def edit_item(
        self,
        portfolio_id: int,
        item_id: int,
        *,
        criteria: list[int],
        title: str = "Monitoring report",
        kind: str = "work_product",
        remove: list[int] | None = None,
        files: list[tuple[bytes, str]] | None = None,
    ) -> Any:
        data = {
            "kind": kind,
            "title": title,
            "description": "Edited.",
            "criteria": [str(c) for c in criteria],
            "remove_files": [str(i) for i in remove or []],
            "files": [(io.BytesIO(content), name) for content, name in files or []],
        }
        return self.post(f"/portfolio/{portfolio_id}/evidence/{item_id}/edit", data, content_type="multipart/form-data")

    def submit(self, portfolio_id: int, attempt: int, note: str = "") -> Any:
        return self.post(f"/portfolio/{portfolio_id}/submit", {"attempt": str(attempt), "note": note})


def acme_learner(app: Flask, platform: TestPlatform, **certification: Any) -> Browser:
    """Ada, a learner of Acme Academy, launched into a TSTCERT placement with her portfolio started."""
    from tests import factories

    factories.assign_partner(platform.registration_id, factories.make_partner("acme-academy"))
    factories.make_certification("TSTCERT", **certification)
    browser = Browser(app, platform, "ada", custom={"certification": "TSTCERT", "route": "training"})
    browser.start()
    return browser
