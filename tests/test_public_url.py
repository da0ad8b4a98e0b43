"""With LTI_TOOL_PUBLIC_URL set, every URL the tool gives out is built on it: a forged Host header changes
none of them (the login's redirect_uri, deep-linking content items, JWKS, configuration and registration
URLs, anything built with url_for(_external=True))."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import url_for

from lti_tool.grading import deep_linking
from lti_tool.grading.deep_linking import Choice
from lti_tool.launch.tool_urls import tool_urls
from lti_tool.store.db import db
from tests.conftest import make_test_app
from tests.lti_helpers import TestPlatform

PUBLIC = "https://tool.example.org"
FORGED = {"Host": "evil.example"}


@pytest.fixture
def public_app(backend, tmp_path, keys_dir):
    app = make_test_app(backend, tmp_path, keys_dir, PUBLIC_URL=PUBLIC, DEMO_TOOL_URL=PUBLIC)
    with app.app_context():
        yield app
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()


def test_the_logins_redirect_uri_ignores_a_forged_host(public_app, jwks_server):
    platform = TestPlatform(jwks_server)
    client = public_app.test_client()
    resp = client.get(
        "/lti/login",
        query_string={
            "iss": platform.issuer,
            "login_hint": "hint",
            "target_link_uri": PUBLIC + "/lti/launch",
            "client_id": platform.client_id,
        },
        headers=FORGED,
    )
    assert resp.status_code == 302, resp.data
    assert parse_qs(urlsplit(resp.location).query)["redirect_uri"] == [PUBLIC + "/lti/launch"]
    # A target on the forged host is another site, whatever the Host header says.
    forged = client.get(
        "/lti/login",
        query_string={"iss": platform.issuer, "login_hint": "h", "target_link_uri": "http://evil.example/lti/launch"},
        headers=FORGED,
    )
    assert forged.status_code == 400


@pytest.mark.parametrize("path", ["/lti/config", "/lti/canvas.json", "/lti/register"])
def test_published_tool_urls_ignore_a_forged_host(public_app, path):
    body = public_app.test_client().get(path, headers=FORGED).data.decode()
    assert "evil.example" not in body
    if path != "/lti/register":
        assert PUBLIC + "/lti/launch" in body and PUBLIC + "/.well-known/jwks.json" in body


def test_every_external_url_for_is_built_on_the_public_url(public_app):
    with public_app.test_request_context("/", headers=FORGED):
        assert url_for("launch.launch", _external=True) == PUBLIC + "/lti/launch"
        assert url_for("launch.jwks", _external=True) == PUBLIC + "/.well-known/jwks.json"
        assert url_for("launch.launch") == "/lti/launch"  # paths stay paths
        assert tool_urls().register == PUBLIC + "/lti/register"
    with public_app.app_context():  # outside a request too (command lines, workers)
        assert url_for("launch.launch") == PUBLIC + "/lti/launch"


def test_deep_linking_content_items_use_the_public_url(public_app):
    with public_app.test_request_context("/grading/deep-link", method="POST", headers=FORGED):
        launch_url = url_for("launch.launch", _external=True)  # what grading/routes.py hands to deep_linking
        items = deep_linking.resources([Choice("C1", "C1", None, "Cert", 10)], launch_url)
    assert [item.to_dict()["url"] for item in items] == [PUBLIC + "/lti/launch"]


def test_without_a_public_url_the_request_address_is_used(backend, tmp_path, keys_dir):
    app = make_test_app(backend, tmp_path, keys_dir)
    with app.test_request_context("/", headers={"Host": "tool.internal:8080"}):
        assert url_for("launch.launch", _external=True) == "http://tool.internal:8080/lti/launch"
        assert tool_urls().launch == "http://tool.internal:8080/lti/launch"
    with app.app_context():
        db.session.remove()
