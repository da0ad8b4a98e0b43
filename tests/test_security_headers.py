"""Security headers on every response, and templates that keep working under the Content-Security-Policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import insert

from lti_tool.launch.models import Registration
from lti_tool.store.db import db
from tests.lti_helpers import TestPlatform, demo_launch

TEMPLATES = Path(__file__).resolve().parent.parent / "lti_tool" / "templates"


def csp(resp) -> dict[str, list[str]]:
    header = resp.headers.get("Content-Security-Policy", "")
    assert header, f"no CSP on {resp.request.path}"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_baseline(resp) -> None:
    policy = csp(resp)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in policy.get("script-src", []) + policy.get("style-src", [])
    assert "'self'" in policy["form-action"] and "'self'" in policy["frame-ancestors"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "X-Frame-Options" not in resp.headers  # it would keep the tool out of the LMS iframe


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/lti/config",
        "/lti/canvas.json",
        "/lti/jwks",
        "/healthz",
        "/static/style.css",
        "/no/such/page",
        "/lti/register",
        "/start",
    ],
)
def test_every_kind_of_response_carries_the_headers(client, path):
    assert_baseline(client.get(path))


def test_a_real_launch_and_its_pages_work_under_the_policy(client):
    resp = demo_launch(client, "demo-learner-ada")
    assert resp.status_code == 303
    assert_baseline(resp)
    page = client.get(resp.location)
    assert page.status_code == 200
    assert_baseline(page)
    html = page.data.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)", html)
    assert " style=" not in html


def test_only_active_platforms_may_frame_the_tool(client, jwks_server):
    TestPlatform(jwks_server)  # issuer and login URL on https://lms.test
    other = Registration(
        issuer="https://moodle.example.org/",
        client_id="c",
        name="Other",
        auth_login_url="https://sso.example.net:8443/mod/lti/auth.php",
        auth_token_url="https://moodle.example.org/token",
        active=True,
    )
    inactive = Registration(
        issuer="https://inactive.example",
        client_id="c",
        name="Off",
        auth_login_url="https://inactive-login.example/auth",
        auth_token_url="https://inactive.example/token",
        active=False,
    )
    db.session.add_all([other, inactive])
    db.session.commit()
    policy = csp(client.get("/lti/config"))
    for allowed in (
        "https://lms.test",
        "https://moodle.example.org",
        "https://sso.example.net:8443",
        "http://localhost",
    ):  # the demo platform, enabled in tests
        assert allowed in policy["frame-ancestors"] and allowed in policy["form-action"]
    assert not any("inactive" in o for o in policy["frame-ancestors"] + policy["form-action"])

    other.active = False  # a change made in this process is seen at once
    db.session.commit()
    assert "https://moodle.example.org" not in csp(client.get("/lti/config"))["frame-ancestors"]


def test_platform_origins_are_cached_briefly(app, client):
    before = csp(client.get("/lti/config"))["frame-ancestors"]
    # Another process registers a platform (no flush in this one): seen once the cache expires.
    with db.engine.begin() as conn:
        conn.execute(
            insert(Registration).values(
                issuer="https://elsewhere.example",
                client_id="x",
                name="x",
                auth_login_url="https://elsewhere.example/auth",
                auth_token_url="https://elsewhere.example/t",
                active=True,
            )
        )
    db.session.rollback()  # what a new request starts with: a fresh transaction that sees the row
    assert csp(client.get("/lti/config"))["frame-ancestors"] == before
    app.extensions["lti_tool.platform_origins"]["expires"] = 0
    assert "https://elsewhere.example" in csp(client.get("/lti/config"))["frame-ancestors"]


def test_extra_frame_ancestors_from_configuration(backend, tmp_path, keys_dir):
    from tests.conftest import make_test_app

    app = make_test_app(backend, tmp_path, keys_dir, FRAME_ANCESTORS_EXTRA=["https://*.instructure.com", "junk"])
    with app.app_context():
        policy = csp(app.test_client().get("/lti/config"))
        assert "https://*.instructure.com" in policy["frame-ancestors"]
        assert "junk" not in " ".join(policy["frame-ancestors"])
        db.session.remove()
        db.engine.dispose()


def test_demo_pages_frame_the_tool_and_are_not_framed(client, app):
    resp = client.get("/demo/course/demo-learner-ada")
    assert resp.status_code == 200
    policy = csp(resp)
    assert policy["frame-ancestors"] == ["'self'"]
    assert policy["frame-src"] == ["'self'", "http://localhost"]
    assert "http://localhost" in policy["form-action"]


def test_registration_done_page_script_runs_by_nonce(app):
    from flask import render_template

    from lti_tool.web.security_headers import content_security_policy

    with app.test_request_context("/lti/register"):
        html = render_template(
            "registration/done.html",
            reg=Registration(client_id="c", issuer="i", active=False),
            platform=type("P", (), {"display_name": lambda self: "LMS"})(),
            invite=None,
            deployment=None,
        )
        nonce = re.search(r'<script nonce="([^"]+)">', html).group(1)
        assert f"'nonce-{nonce}'" in content_security_policy()


def test_deep_link_style_form_target_can_be_allowed_per_response(app):
    from lti_tool.web.security_headers import allow_form_target, content_security_policy

    with app.test_request_context("/x"):
        allow_form_target("https://school.instructure.com/courses/1/deep_linking_response?x=1")
        allow_form_target("not a url")
        policy = content_security_policy()
    assert "https://school.instructure.com" in policy.split("form-action")[1].split(";")[0]


INLINE_RULES = [
    (
        re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=\"\{\{ csp_nonce\(\) \}\}\")[^>]*>"),
        'inline <script> without the CSP nonce: move it to lti_tool/static/ or add nonce="{{ csp_nonce() }}"',
    ),
    (
        re.compile(r"<style(?![^>]*\bnonce=\"\{\{ csp_nonce\(\) \}\}\")[^>]*>"),
        'inline <style> without the CSP nonce: move it to style.css or add nonce="{{ csp_nonce() }}"',
    ),
    (re.compile(r"\sstyle\s*="), "style attribute: the CSP blocks it; use a class in style.css"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler: the CSP blocks it; use addEventListener"),
    (re.compile(r"javascript:", re.I), "javascript: URL: the CSP blocks it"),
]


def test_templates_need_no_inline_script_or_style():
    """Covers every template, including those added later: the Content-Security-Policy would silently
    break a page with inline script, style attributes or event handlers."""
    problems = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for pattern, why in INLINE_RULES:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{path.relative_to(TEMPLATES)}:{line}: {why}")
    assert not problems, "\n".join(problems)
