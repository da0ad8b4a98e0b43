"""What platforms are told to paste (config page, Canvas JSON), the CLI on the shared registration rules,
and the plain functions of dynamic registration."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lti_tool.admin.registration_cli import deployment_cli, registration_cli
from lti_tool.audit.trail import AuditEvent
from lti_tool.identity.partners import Partner
from lti_tool.launch.dynamic_registration import (
    DynamicRegistrationError,
    client_registration,
    issuer_matches,
    parse_platform_configuration,
    parse_registration_answer,
)
from lti_tool.launch.invites import RegistrationInvite, hash_token
from lti_tool.launch.models import Registration
from lti_tool.launch.tool_urls import tool_urls
from lti_tool.store.db import db
from tests.conftest import make_test_app
from tests.lti_helpers import demo_launch

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"


def test_canvas_developer_key_json(client):
    body = client.get("/lti/canvas.json").get_json()
    assert body["title"] and body["description"]
    assert body["oidc_initiation_url"] == "http://localhost/lti/login"
    assert body["target_link_uri"] == "http://localhost/lti/launch"
    assert body["public_jwk_url"] == "http://localhost/.well-known/jwks.json"
    assert set(body["scopes"]) == {
        AGS + "lineitem",
        AGS + "lineitem.readonly",
        AGS + "result.readonly",
        AGS + "score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    }
    ext = body["extensions"][0]
    assert ext["platform"] == "canvas.instructure.com" and ext["privacy_level"] == "public"
    placements = {p["placement"]: p for p in ext["settings"]["placements"]}
    assert placements["course_navigation"]["message_type"] == "LtiResourceLinkRequest"
    selection = placements["assignment_selection"]
    assert selection["message_type"] == "LtiDeepLinkingRequest"
    assert selection["target_link_uri"] == "http://localhost/lti/launch"
    assert body["custom_fields"] and all(v.startswith("$") for v in body["custom_fields"].values())
    # The JWKS URL named there serves the tool's keys.
    assert client.get("/.well-known/jwks.json").get_json()["keys"]


def test_config_page_shows_every_value_to_paste(client):
    html = client.get("/lti/config").data.decode()
    values = dict(re.findall(r'id="([a-z-]+)" readonly[^>]*value="([^"]*)"', html))
    assert values["tool-url"] == "http://localhost/lti/launch"
    assert values["login-url"] == "http://localhost/lti/login"
    assert values["jwks-url"] == "http://localhost/.well-known/jwks.json"
    assert values["deep-link-url"] == "http://localhost/lti/launch"
    assert values["register-url"] == "http://localhost/lti/register"
    assert values["canvas-json-url"] == "http://localhost/lti/canvas.json"
    assert values["redirect-uris"] == "http://localhost/lti/launch"
    for platform in ("Moodle", "Open edX", "Canvas"):
        assert platform in html
    assert '<label for="tool-url">' in html  # every field is labelled


def test_public_url_wins_over_the_request(backend, tmp_path, keys_dir):
    app = make_test_app(backend, tmp_path, keys_dir, PUBLIC_URL="https://tool.example.org")
    with app.app_context():
        client = app.test_client()
        body = client.get("/lti/canvas.json").get_json()
        assert body["oidc_initiation_url"] == "https://tool.example.org/lti/login"
        assert body["extensions"][0]["domain"] == "tool.example.org"
        assert 'value="https://tool.example.org/lti/register"' in client.get("/lti/config").data.decode()
        db.session.remove()


@pytest.mark.parametrize(
    "issuer,url,ok",
    [
        ("https://moodle.example.edu", "https://moodle.example.edu/mod/lti/openid-configuration.php", True),
        ("https://moodle.example.edu/", "https://moodle.example.edu/.well-known/openid-configuration", True),
        ("https://example.edu/moodle", "https://example.edu/moodle/mod/lti/openid-configuration.php", True),
        ("https://example.edu/moodle", "https://example.edu/moodle2/mod/lti/openid-configuration.php", False),
        ("https://moodle.example.edu", "https://moodle.example.edu.evil.test/openid-configuration", False),
        ("https://moodle.example.edu", "http://moodle.example.edu/openid-configuration", False),
        ("https://moodle.example.edu", "https://moodle.example.edu:8443/openid-configuration", False),
        (
            "https://canvas.instructure.com",
            "https://school.instructure.com/api/lti/security/openid-configuration",
            False,
        ),
    ],
)
def test_issuer_matches(issuer, url, ok):
    assert issuer_matches(issuer, url) is ok


def _config(**overrides):
    base = "https://lms.example"
    config = {
        "issuer": base,
        "authorization_endpoint": base + "/auth",
        "token_endpoint": base + "/token",
        "jwks_uri": base + "/jwks",
        "registration_endpoint": base + "/register",
        "https://purl.imsglobal.org/spec/lti-platform-configuration": {
            "product_family_code": "canvas",
            "messages_supported": [{"type": "LtiResourceLinkRequest"}],
        },
    }
    config.update(overrides)
    return config


def test_platform_configuration_rules(sqlite_app):
    url = "https://lms.example/.well-known/openid-configuration"
    platform = parse_platform_configuration(url, _config(scopes_supported=[AGS + "score", "openid"]))
    with sqlite_app.test_request_context("/"):
        body = client_registration(platform, tool_urls())
    # Only scopes the platform offers; no deep linking message where the platform does not support it.
    assert body["scope"] == AGS + "score"
    assert [m["type"] for m in body["https://purl.imsglobal.org/spec/lti-tool-configuration"]["messages"]] == [
        "LtiResourceLinkRequest"
    ]
    with pytest.raises(DynamicRegistrationError, match="not an https URL"):
        parse_platform_configuration(url, _config(token_endpoint="http://lms.example/token"))
    with pytest.raises(DynamicRegistrationError, match="not a JSON object"):
        parse_platform_configuration(url, ["not", "an", "object"])
    with pytest.raises(DynamicRegistrationError, match="gave no issuer"):
        parse_platform_configuration(url, _config(issuer=None))


def test_registration_answer_rules():
    answer = parse_registration_answer(
        {"client_id": 1234, "https://purl.imsglobal.org/spec/lti-tool-configuration": {"deployment_id": 5}}
    )
    assert (answer.client_id, answer.deployment_id) == ("1234", "5")
    assert parse_registration_answer({"client_id": "abc"}).deployment_id is None
    for bad in ({}, {"client_id": ""}, {"client_id": {"x": 1}}, "text"):
        with pytest.raises(DynamicRegistrationError):
            parse_registration_answer(bad)


def _cli(app, group, *args):
    groups = {"registration": registration_cli, "deployment": deployment_cli}
    return app.test_cli_runner().invoke(groups[group], list(args))


REG = [
    "--issuer",
    "https://moodle.acme.example",
    "--client-id",
    "abc123",
    "--login-url",
    "https://moodle.acme.example/mod/lti/auth.php",
    "--token-url",
    "https://moodle.acme.example/mod/lti/token.php",
    "--jwks-url",
    "https://moodle.acme.example/mod/lti/certs.php",
]


def test_cli_registration_add_remove_and_audit(app):
    db.session.add(Partner(slug="acme", name="Acme"))
    db.session.commit()
    result = _cli(app, "registration", "add", *REG, "--deployment", "1", "--partner", "acme")
    assert result.exit_code == 0, result.output
    reg = db.session.scalar(select(Registration).where(Registration.client_id == "abc123"))
    assert reg.deployments[0].partner.slug == "acme"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "registration.create"))
    assert event.actor_label.startswith("cli:") and event.role == "tool_admin"

    again = _cli(app, "registration", "add", *REG)
    assert again.exit_code != 0 and "already exists" in again.output and "Traceback" not in again.output
    bad = _cli(app, "registration", "add", *REG[:-1], "ftp://nope")
    assert bad.exit_code != 0 and "not an http(s) URL" in bad.output
    assert _cli(app, "registration", "remove", *REG[:4], "--yes").exit_code == 0
    db.session.expire_all()
    assert db.session.scalar(select(Registration).where(Registration.client_id == "abc123")) is None


def test_cli_refuses_to_remove_a_registration_with_launches(app, client):
    demo_launch(client, "demo-learner-ada")
    demo = db.session.scalar(select(Registration).where(Registration.client_id == "demo-tool-client"))
    result = _cli(app, "registration", "remove", "--issuer", demo.issuer, "--client-id", demo.client_id, "--yes")
    assert result.exit_code != 0 and "deactivate it instead" in result.output.lower()
    db.session.expire_all()
    assert db.session.get(Registration, demo.id) is not None


def test_cli_invite_prints_a_working_url(app):
    db.session.add(Partner(slug="acme", name="Acme"))
    db.session.commit()
    result = _cli(app, "registration", "invite", "--partner", "acme", "--hours", "5")
    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[-1]
    assert "LTI_TOOL_PUBLIC_URL is not set" in result.stderr
    assert re.fullmatch(r"http://\S+/lti/register/[A-Za-z0-9_-]{40,}", url)
    invite = db.session.scalar(select(RegistrationInvite))
    assert invite.token_hash == hash_token(url.rsplit("/", 1)[1]) and invite.partner.slug == "acme"
    assert invite.status() == "open"
    assert _cli(app, "registration", "invite", "--partner", "nobody").exit_code != 0
    assert _cli(app, "registration", "invite", "--hours", "0").exit_code != 0
