"""The learning credits never distort a gradebook: always in the main score's comment; a column of their own
only where the deployment opted in (admin console, CLI; audited) and never on Open edX, where every line item
of the block feeds its one grade (lti-consumer-xblock signals.publish_grade_on_score_update)."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.audit.trail import AuditEvent
from lti_tool.grading import gradebook
from lti_tool.grading.cli import grading_cli
from lti_tool.grading.models import CREDITS, MAIN
from lti_tool.grading.outbox import credits_column, enqueue_for_state
from lti_tool.launch.models import LtiUser, ResourceLink
from lti_tool.store.db import db
from tests.grading_helpers import award, jobs, make_certification, make_portfolio, opt_in_credits_column, submit
from tests.lti_helpers import demo_launch
from tests.registration_helpers import launch_as, post


def _learner(client, sub: str = "demo-learner-ada") -> tuple[LtiUser, ResourceLink]:
    demo_launch(client, sub)
    return db.session.scalar(select(LtiUser).where(LtiUser.sub == sub)), db.session.scalar(select(ResourceLink))


def _awarded(user: LtiUser, link: ResourceLink) -> None:
    portfolio = make_portfolio(user, link, make_certification(credits=12))
    enqueue_for_state(portfolio)
    submit(portfolio)
    award(portfolio, "CMIACR-000042", credits=12)
    db.session.commit()


def test_by_default_the_credits_are_in_the_comment_and_no_column_is_made(client):
    ada, link = _learner(client)
    assert not credits_column(link)
    _awarded(ada, link)
    assert jobs(target=CREDITS) == []
    last = jobs(target=MAIN)[-1].payload
    assert last["comment"] == "Awarded. Certificate number CMIACR-000042. 12 learning credits, 120 CPD points."
    assert last["scoreGiven"] == 100 and last["scoreMaximum"] == 100


def test_an_opted_in_deployment_gets_the_column_too(client):
    ada, link = _learner(client)
    opt_in_credits_column(link)
    _awarded(ada, link)
    [credits] = jobs(target=CREDITS)
    assert credits.payload["scoreGiven"] == 12 and credits.line_item["label"] == "CMIACR learning credits"
    assert "12 learning credits" in jobs(target=MAIN)[-1].payload["comment"]  # still in the comment


def test_open_edx_never_gets_a_credits_column_even_opted_in(client):
    ada, link = _learner(client)
    opt_in_credits_column(link)
    # As Open edX launches: the resource link is the block's usage key, AGS under lti_consumer/v1/lti/<id>/lti-ags.
    link.resource_link_id = "block-v1:Org+CM101+2026+type@lti_consumer+block@3f1c"
    db.session.commit()
    assert gradebook.shares_main_grade(link)
    assert "Open edX" in gradebook.credits_column_refusal(link, True)
    _awarded(ada, link)
    assert jobs(target=CREDITS) == []

    link.resource_link_id = "demo-link-cmiacr"
    link.ags_lineitems_url = "https://courses.example.org/api/lti_consumer/v1/lti/42/lti-ags"
    assert gradebook.shares_main_grade(link) and not credits_column(link)


def test_the_admin_console_turns_it_on_and_off_audited(client):
    _learner(client)
    link = db.session.scalar(select(ResourceLink))
    dep = link.deployment
    admin = launch_as(client, "demo-admin-alex", tool_admin=True)
    page = client.get("/admin/registrations")
    assert b"Credits column" in page.data and b"Turn on" in page.data
    resp = post(client, admin, f"/admin/deployments/{dep.id}/credits-column", credits_column="on")
    assert resp.status_code == 303
    assert "separate learning credits column" in client.get(resp.location).data.decode()
    assert gradebook.credits_column_opted_in(dep.id)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "deployment.credits_column"))
    assert event.before == {"credits_column": False} and event.after["credits_column"] is True
    assert event.actor_id == admin.user_id and event.subject_id == str(dep.id)
    assert post(client, admin, f"/admin/deployments/{dep.id}/credits-column", credits_column="off").status_code == 303
    assert not gradebook.credits_column_opted_in(dep.id)
    assert post(client, admin, f"/admin/deployments/{dep.id}/credits-column", credits_column="maybe").status_code == 400
    assert post(client, admin, "/admin/deployments/999999/credits-column", credits_column="on").status_code == 404


def test_the_cli_shows_and_sets_it_audited(app, client):
    _learner(client)
    dep = db.session.scalar(select(ResourceLink)).deployment
    reg = dep.registration
    args = [
        "credits-column",
        "--issuer",
        reg.issuer,
        "--client-id",
        reg.client_id,
        "--deployment-id",
        dep.deployment_id,
    ]
    runner = app.test_cli_runner()
    shown = runner.invoke(grading_cli, args)
    assert shown.exit_code == 0 and ": off." in shown.output
    turned = runner.invoke(grading_cli, [*args, "--on"])
    assert turned.exit_code == 0 and ": on." in turned.output
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "deployment.credits_column"))
    assert event.actor_label.startswith("cli:") and event.after["credits_column"] is True
    missing = runner.invoke(
        grading_cli, ["credits-column", "--issuer", "x", "--client-id", "y", "--deployment-id", "z"]
    )
    assert missing.exit_code != 0 and "No registration" in missing.output
