"""Launches when the browser refuses third-party cookies: LTI client-side postMessage storage where the
platform offers it, and a clear 'open in a new window' path where it does not."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from lti_tool.launch.models import ToolSession
from tests.conftest import table_count
from tests.lti_helpers import TestPlatform


@pytest.fixture
def platform(app, jwks_server):
    return TestPlatform(jwks_server)


def _data(page: str, name: str) -> str:
    return html.unescape(re.search(rf'data-{name}="([^"]*)"', page).group(1))


def _login_with_storage(client, platform):
    resp = client.get(
        "/lti/login",
        query_string={
            "iss": platform.issuer,
            "login_hint": "hint",
            "client_id": platform.client_id,
            "target_link_uri": "http://localhost/lti/launch",
            "lti_storage_target": "_parent",
        },
    )
    assert resp.status_code == 200
    page = resp.data.decode()
    auth_url = _data(page, "next")
    args = parse_qs(urlsplit(auth_url).query)
    return page, args["state"][0], args["nonce"][0]


def test_login_with_storage_target_asks_the_platform_to_keep_the_secret(client, platform):
    page, state, _ = _login_with_storage(client, platform)
    assert _data(page, "mode") == "put"
    assert _data(page, "key") == "state_" + state
    assert _data(page, "origin") == "https://lms.test"  # only the platform's origin may receive it
    assert len(_data(page, "value")) >= 24
    assert "lti_storage.js" in page


def test_storage_launch_without_cookie_checks_the_platform_copy(client, platform):
    page, state, nonce = _login_with_storage(client, platform)
    secret = _data(page, "value")
    client.delete_cookie(f"lti1p3-{state}")
    token = platform.sign(platform.claims(nonce))
    check = client.post("/lti/launch", data={"id_token": token, "state": state})
    assert check.status_code == 200
    check_page = check.data.decode()
    assert _data(check_page, "mode") == "get" and _data(check_page, "key") == "state_" + state
    assert table_count(ToolSession) == 0  # nothing happens until the browser proves it
    wrong = client.post("/lti/launch", data={"id_token": token, "state": state, "lti_storage_proof": "guess"})
    assert wrong.status_code == 401
    ok = client.post("/lti/launch", data={"id_token": token, "state": state, "lti_storage_proof": secret})
    assert ok.status_code == 303, ok.data
    assert table_count(ToolSession) == 1


def test_blocked_cookie_without_storage_offers_a_new_window(client, platform):
    state, nonce = platform.login(client)
    client.delete_cookie(f"lti1p3-{state}")
    token = platform.sign(platform.claims(nonce))
    resp = client.post("/lti/launch", data={"id_token": token, "state": state})
    assert resp.status_code == 401
    page = html.unescape(resp.data.decode())
    assert "blocked the cookie" in page and "Open in a new window" in page
    link = re.search(r'href="(/lti/login\?[^"]+)" target="_blank"', page).group(1)
    relaunch = client.get(link)
    assert relaunch.status_code == 302  # a fresh login, first-party in the new window
    args = parse_qs(urlsplit(relaunch.location).query)
    assert args["login_hint"] == ["hint"] and args["client_id"] == [platform.client_id]
