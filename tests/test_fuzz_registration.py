"""Adversarial dynamic registration, generated with hypothesis: whatever the page is opened with, and whatever
a broken or hostile platform answers, the tool refuses with a clear 4xx and records nothing half-made."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from lti_tool.store.db import db
from tests.conftest import make_test_app
from tests.fuzz_support import (
    FUZZ,
    any_text,
    assert_clean_refusal,
    huge_text,
    json_values,
    nasty_text,
    row_counts,
    tally,
)
from tests.moodle_stub import MoodleStub
from tests.registration_helpers import dynamic_register

# Hosts that resolve without DNS, each of them this machine or a metadata address, plus unparseable ones.
LOCAL_HOSTS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "169.254.169.254",
    "0.0.0.0",
    "2130706433",
    "0x7f.1",
    "[::ffff:127.0.0.1]",
    "127.0.0.1:0",
    "127.0.0.1:99999",
    "127.0.0.1:-1",
    "[",
    "user:pw@127.0.0.1",
    "127.0.0.1:80@127.0.0.1",
    "",
]
config_urls = st.one_of(
    st.builds(
        lambda scheme, host, path: f"{scheme}{host}{path}",
        st.sampled_from(["https://", "http://", "ftp://", "javascript:", "//", "https:/", "HTTPS://"]),
        st.sampled_from(LOCAL_HOSTS),
        st.one_of(st.just("/.well-known/openid-configuration"), any_text),
    ),
    nasty_text,
)


def test_registration_page_fuzz(client):
    """The tool's registration URL opened with any parameters (tool default: no local platforms)."""

    @FUZZ
    @given(
        st.sampled_from(["GET", "POST"]),
        st.one_of(st.none(), any_text, huge_text),
        st.lists(
            st.tuples(
                st.sampled_from(["openid_configuration", "registration_token", "x"]), st.one_of(config_urls, nasty_text)
            ),
            max_size=4,
        ),
    )
    def check(method, invite, params):
        tally()
        path = "/lti/register" if invite is None else "/lti/register/" + quote(invite, safe="")
        before = row_counts()
        data = MultiDict(params)
        resp = client.get(path, query_string=data) if method == "GET" else client.post(path, data=data)
        assert_clean_refusal(resp, f"{method} {path[:80]} {params!r:.300}")
        assert row_counts() == before

    check()


@pytest.fixture
def reg_app(backend, tmp_path, keys_dir):
    app = make_test_app(backend, tmp_path, keys_dir, REGISTRATION_ALLOW_LOCAL=True)
    with app.app_context():
        yield app
        db.session.remove()
        if backend == "postgresql":
            db.engine.dispose()


@pytest.fixture
def moodle():
    stub = MoodleStub()
    yield stub
    stub.close()


REQUIRED = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "https://purl.imsglobal.org/spec/lti-platform-configuration",
]
OPTIONAL = [
    "scopes_supported",
    "authorization_server",
    "token_endpoint_auth_methods_supported",
    "id_token_signing_alg_values_supported",
    "claims_supported",
]
LTI_CONFIG_FIELDS = ["product_family_code", "version", "messages_supported", "placements", "variables"]


def _usable(name: str, value: object) -> bool:
    """Could the tool go on with this value of a required field? (The LTI object may be empty: its fields are
    optional; every endpoint must at least be a URL.)"""
    if name == REQUIRED[-1]:
        return isinstance(value, dict)
    return isinstance(value, str) and value.startswith("http")


def test_malformed_platform_configuration(reg_app, moodle):
    client = reg_app.test_client()

    @FUZZ
    @given(st.data())
    def check(data):
        tally()
        moodle.config_overrides = {}
        moodle.config_raw = None
        kind = data.draw(st.sampled_from(["required", "optional", "lti-config", "raw", "huge-url"]))
        if kind == "raw":
            moodle.config_raw = data.draw(
                st.one_of(
                    st.binary(max_size=300),
                    json_values.map(lambda v: json.dumps(v).encode()),
                    st.just(b"{" * 5000),
                    st.just(b" " * 600_000),
                )
            )
        elif kind == "huge-url":
            name = data.draw(st.sampled_from(REQUIRED[:5]))
            moodle.config_overrides = {name: moodle.issuer + "/" + "x" * data.draw(st.sampled_from([480, 990, 5000]))}
        else:
            names = {"required": REQUIRED, "optional": OPTIONAL, "lti-config": LTI_CONFIG_FIELDS}[kind]
            chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
            values = {name: data.draw(json_values, label=name) for name in chosen}
            if kind == "lti-config":
                lti = dict(moodle.configuration()[REQUIRED[-1]])
                lti.update(values)
                values = {REQUIRED[-1]: lti}
            moodle.config_overrides = values
        before = row_counts()
        resp = dynamic_register(client, moodle)
        if resp.status_code == 200:
            # Accepted: only when what the platform sent is usable, and then fully recorded.
            assert kind != "raw", moodle.config_raw
            if kind == "required":
                assert all(_usable(k, v) for k, v in moodle.config_overrides.items()), moodle.config_overrides
            after = row_counts()
            assert after["lti_registration"] == before["lti_registration"] + 1
        else:
            assert_clean_refusal(resp, f"{kind} {moodle.config_overrides!r:.300} {moodle.config_raw!r:.100}")
            assert row_counts() == before

    check()


def test_malformed_registration_answer(reg_app, moodle):
    """The platform accepts the tool's registration but answers with nonsense: nothing is recorded."""
    client = reg_app.test_client()

    @FUZZ
    @given(
        st.one_of(
            json_values.map(lambda v: json.dumps(v).encode()),
            st.binary(max_size=200),
            st.fixed_dictionaries({"client_id": st.one_of(json_values, huge_text, st.just("c\x00"))}).map(
                lambda v: json.dumps(v).encode()
            ),
            st.fixed_dictionaries(
                {
                    "client_id": st.just("good-client"),
                    "https://purl.imsglobal.org/spec/lti-tool-configuration": json_values,
                }
            ).map(lambda v: json.dumps(v).encode()),
        )
    )
    def check(answer):
        tally()
        moodle.answer_raw = answer
        before = row_counts()
        resp = dynamic_register(client, moodle)
        parsed = _json_or_none(answer)
        usable = (
            isinstance(parsed, dict)
            and isinstance(parsed.get("client_id"), str | int)
            and not isinstance(parsed.get("client_id"), bool)
        )
        if resp.status_code == 200:
            assert usable, answer[:300]
            if "registration is updated" in resp.data.decode():  # a client ID already registered: in place
                assert row_counts()["lti_registration"] == before["lti_registration"]
            else:
                assert row_counts()["lti_registration"] == before["lti_registration"] + 1
        else:
            assert_clean_refusal(resp, f"answer {answer[:300]!r}")
            assert row_counts() == before

    check()


def _json_or_none(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None


# Cases the fuzz runs found, kept as plain checks of the rules (no HTTP needed).
@pytest.mark.parametrize(
    "answer,client_id",
    [
        ({"client_id": True}, None),
        ({"client_id": False}, None),
        ({"client_id": 12}, "12"),
        ({"client_id": "c", "https://purl.imsglobal.org/spec/lti-tool-configuration": {"deployment_id": True}}, "c"),
    ],
)
def test_registration_answer_booleans_are_not_identifiers(sqlite_app, answer, client_id):
    from lti_tool.launch.dynamic_registration import DynamicRegistrationError, parse_registration_answer

    if client_id is None:
        with pytest.raises(DynamicRegistrationError):
            parse_registration_answer(answer)
    else:
        parsed = parse_registration_answer(answer)
        assert parsed.client_id == client_id and parsed.deployment_id is None


def test_messages_supported_of_odd_shapes_are_ignored():
    from lti_tool.launch.dynamic_registration import _messages_supported

    assert _messages_supported(
        [[], {"type": ["x"]}, {"type": "LtiDeepLinkingRequest"}, "LtiResourceLinkRequest", 7]
    ) == frozenset({"LtiDeepLinkingRequest", "LtiResourceLinkRequest"})
