"""Building portfolios and moving them through the state machine for grade sync tests, and serving the demo
platform on a real loopback HTTP server so that the worker makes real HTTP calls."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from lti_tool.audit.actor import Actor
from lti_tool.grading import gradebook
from lti_tool.grading.models import IN_PROGRESS, PENDING, GradeJob
from lti_tool.grading.worker import process_due_jobs
from lti_tool.launch.models import LtiUser, ResourceLink
from lti_tool.portfolio import workflow as wf
from lti_tool.portfolio.catalogue.models import Certification
from lti_tool.portfolio.models import Portfolio, Submission
from lti_tool.portfolio.review.assessment_models import NOT_YET_COMPETENT, Assessment, Award
from lti_tool.store.db import db
from tests import factories
from tests.conftest import make_test_app

FAST_RETRIES = {"GRADING_BACKOFF_SECONDS": 0.01, "GRADING_BACKOFF_MAX_SECONDS": 0.05, "HTTP_TIMEOUT": 5}


def make_certification(
    code: str = "CMIACR", credits: int = 12, units: tuple[str, ...] = ("U1", "U2"), version: int = 1
) -> Certification:
    """Units named by `units` ("Unit U1 of CMIACR"), each with outcome 1 and criterion 1.1, committed."""
    return factories.make_certification(
        code,
        version=version,
        title="Qualified {code} professional",
        isced_level="ED5",
        credits=credits,
        units=units,
        outcomes=1,
        criteria=1,
        unit_title="Unit {unit} of {code}",
        outcome_code="{o}",
        outcome_text="The learner will be able to monitor data.",
        criterion_code="{o}.{c}",
        criterion_text="The learner can review data.",
        first_position=0,
    )


def make_portfolio(user: LtiUser, link: ResourceLink, cert: Certification) -> Portfolio:
    portfolio = Portfolio(
        user_id=user.id, resource_link_id=link.id, certification_id=cert.id, partner_id=link.deployment.partner_id
    )
    db.session.add(portfolio)
    db.session.flush()
    return portfolio


def submit(portfolio: Portfolio) -> Submission:
    attempt = len(portfolio.submissions) + 1
    sub = Submission(portfolio_id=portfolio.id, attempt=attempt, snapshot={"evidence": []})
    db.session.add(sub)
    db.session.flush()
    db.session.refresh(portfolio)
    wf.transition(portfolio, wf.SUBMITTED, duty="learner")
    return sub


def refer(portfolio: Portfolio, assessor: LtiUser, summary: str) -> None:
    sub = portfolio.submissions[-1]
    db.session.add(
        Assessment(
            submission_id=sub.id,
            assessor_id=assessor.id,
            decision=NOT_YET_COMPETENT,
            summary=summary,
            decided_at=dt.datetime(2024, 1, 1) + dt.timedelta(days=sub.attempt),
        )
    )
    db.session.flush()
    wf.transition(portfolio, wf.REFERRED, duty="assessor")


def award(portfolio: Portfolio, certificate_number: str = "CMIACR-000042", credits: int = 12) -> Award:
    """competent -> verification 1 -> verification 2 -> awarded, with the Award row written first."""
    wf.transition(portfolio, wf.ASSESSED, duty="assessor")
    wf.transition(portfolio, wf.VERIFICATION_1, duty="system")
    wf.transition(portfolio, wf.VERIFICATION_2, duty="internal_verifier")
    row = Award(
        portfolio_id=portfolio.id,
        submission_id=portfolio.submissions[-1].id,
        certificate_number=certificate_number,
        credits=credits,
        cpd_points=credits * 10,
        awarded_on=dt.date(2024, 6, 1),
    )
    db.session.add(row)
    db.session.flush()
    wf.transition(portfolio, wf.AWARDED, duty="independent_verifier")
    return row


def opt_in_credits_column(link: ResourceLink, on: bool = True) -> None:
    """The deployment's tool admin turns the separate credits column on (off by default), committed."""
    gradebook.set_credits_column(Actor(label="test admin", role="tool_admin"), link.deployment, on)
    db.session.commit()


def jobs(**filters: Any) -> list[GradeJob]:
    return list(db.session.scalars(select(GradeJob).filter_by(**filters).order_by(GradeJob.id)))


def drain(timeout: float = 10.0, worker_id: str = "test-worker") -> None:
    """Run the worker until no job is pending or in progress (retries are due within the small backoff)."""
    deadline = time.monotonic() + timeout
    while True:
        process_due_jobs(worker_id)
        db.session.expire_all()
        open_jobs = [j for j in jobs() if j.status in (PENDING, IN_PROGRESS)]
        if not open_jobs:
            return
        if time.monotonic() > deadline:
            states = [(j.id, j.status, j.last_error) for j in open_jobs]
            raise AssertionError(f"jobs still open after {timeout}s: {states}")
        time.sleep(0.02)


@contextmanager
def live_app(backend: str, tmp_path: Path, keys_dir: Path, **config: Any) -> Iterator[tuple[Flask, str]]:
    """The app with its demo platform served on 127.0.0.1 over real HTTP; yields (app, base URL) in an app context."""
    holder: dict[str, Flask] = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app = make_test_app(backend, tmp_path, keys_dir, DEMO_BASE_URL=base, **{**FAST_RETRIES, **config})
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with app.app_context():
            yield app, base
            db.session.remove()
    finally:
        server.shutdown()
        server.server_close()
        if backend == "postgresql":
            with app.app_context():
                db.engine.dispose()
