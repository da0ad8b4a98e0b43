"""Every `lti-tool` command group, in one list: the CLI and the app (`flask --app`) both add these."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from lti_tool.admin.partner_cli import partner_cli
from lti_tool.admin.registration_cli import deployment_cli, keys_cli, registration_cli
from lti_tool.admin.staff_cli import staff_cli
from lti_tool.audit.cli import audit_cli
from lti_tool.credentials.cli import credential_cli
from lti_tool.eqa import jobs as eqa_jobs
from lti_tool.eqa.cli import pack_cli
from lti_tool.grading.cli import grading_cli
from lti_tool.grading.worker import start_background_worker
from lti_tool.housekeeping import housekeeping_cli
from lti_tool.notifications import delivery as mail_delivery
from lti_tool.notifications.cli import notifications_cli
from lti_tool.portfolio.catalogue.cli import catalogue_cli
from lti_tool.portfolio.evidence.keys import evidence_cli
from lti_tool.portfolio.review.sampling_cli import sampling_cli


@click.command("serve", help="Run the tool (threaded development server) for the embedded setup.")
@click.option("--host", default=None, help="Interface to listen on (default LTI_TOOL_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default LTI_TOOL_PORT or 5000).")
@with_appcontext
def serve(host: str | None, port: int | None) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    host = host or app.config["HOST"]
    port = port or app.config["PORT"]
    click.echo(f"Accreditation tool on http://{host}:{port}/")
    if app.config["DEMO_PLATFORM"]:
        click.echo(f"Demo platform: {app.config['DEMO_BASE_URL']}/demo/")
    if app.config["GRADING_WORKER_THREAD"]:
        start_background_worker(app)
        click.echo("Grade delivery runs in the background (LTI_TOOL_GRADING_THREAD=0 to use 'grading worker').")
    if app.config["PACK_WORKER_THREAD"]:
        eqa_jobs.start_background_worker(app)
        click.echo("EQA packs are built in the background (LTI_TOOL_PACK_THREAD=0 to use 'pack work').")
    if app.config["MAIL_WORKER_THREAD"]:
        mail_delivery.start_background_worker(app)
        click.echo(
            f"Notification e-mail goes to {mail_delivery.destination(app)} (LTI_TOOL_MAIL_THREAD=0 to use "
            "'notifications worker')."
        )
    # Not app.run(): Flask ignores it when called from its own command line (FLASK_RUN_FROM_CLI).

    run_simple(host, port, app, threaded=True, use_reloader=False)


COMMANDS: tuple[click.Command, ...] = (
    serve,
    registration_cli,
    deployment_cli,
    keys_cli,
    catalogue_cli,
    partner_cli,
    credential_cli,
    grading_cli,
    staff_cli,
    audit_cli,
    sampling_cli,
    housekeeping_cli,
    evidence_cli,
    pack_cli,
    notifications_cli,
)
