"""Every state-changing route checks the CSRF token, or is on the short list of endpoints that platforms (not
the tool's own pages) post to. Walks app.url_map, so routes added later are covered without editing this."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from werkzeug.routing import FloatConverter, IntegerConverter, UUIDConverter

from lti_tool.audit.trail import AuditEvent
from lti_tool.store.db import db
from tests.registration_helpers import launch_as

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

# Endpoints that take a state-changing request without the tool's CSRF token, and why that is safe.
NO_CSRF = {
    "launch.login": "OIDC third-party login initiation: the LMS page posts it, before any tool session exists; it "
    "only stores a single-use state and nonce and redirects to the registered platform.",
    "launch.launch": "The platform's form post of the id_token: authenticated by the platform's RS256 signature, "
    "the single-use state bound to this browser (cookie or platform storage) and the nonce.",
    "registration.register": "LTI Dynamic Registration: the LMS admin has no tool session; the platform's one-time "
    "registration token authorizes the POST, a registration without an invite stays "
    "inactive until a tool admin activates it, and an invite is re-checked on the POST.",
    "demo.auth": "Demo platform (LMS side): its OIDC authorization endpoint, which the tool's login redirects to.",
    "demo.token": "Demo platform: OAuth2 client_credentials endpoint, authenticated by the tool's signed JWT.",
    "demo.lineitems": "Demo platform: AGS API, authenticated by a bearer access token, never by cookies.",
    "demo.scores": "Demo platform: AGS API, authenticated by a bearer access token, never by cookies.",
    "demo.deep_link_return": "Demo platform: receives the tool's deep linking response, a JWT signed by the tool.",
    "mail.unsubscribe": "The unsubscribe link of an e-mail (and a mail program's one-click unsubscribe, RFC 8058, "
    "which posts without any session): the signed token in the address names the one person and kind of e-mail "
    "it stops; it only turns that person's e-mails off (their notices stay in the tool).",
    "demo.outage": "Demo platform (LMS side): a switch that makes its own services answer 503/429 for a while, to "
    "show grade-sync retries; it changes nothing in the tool, and the demo is off in production.",
}


def _blueprint_chain(endpoint: str) -> list[str]:
    parts = endpoint.split(".")[:-1]
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def requires_csrf(app, endpoint: str) -> bool:
    if getattr(app.view_functions[endpoint], "requires_csrf", False):
        return True
    return any(
        getattr(hook, "requires_csrf", False)
        for name in _blueprint_chain(endpoint)
        for hook in app.before_request_funcs.get(name, ())
    )


def state_changing_rules(app):
    return [r for r in app.url_map.iter_rules() if r.methods & STATE_CHANGING]


def test_every_state_changing_route_checks_csrf_or_is_allow_listed(app):
    unprotected = [
        f"{sorted(rule.methods & STATE_CHANGING)} {rule.rule} -> {rule.endpoint}"
        for rule in state_changing_rules(app)
        if rule.endpoint not in NO_CSRF and not requires_csrf(app, rule.endpoint)
    ]
    assert not unprotected, (
        "State-changing routes without a CSRF check: wrap them in @login_required (or add "
        "them to NO_CSRF with the reason):\n" + "\n".join(unprotected)
    )


def test_allow_list_names_only_real_unprotected_platform_endpoints(app):
    for endpoint in NO_CSRF:
        assert endpoint in app.view_functions, f"{endpoint} no longer exists: remove it from NO_CSRF"
        rules = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]
        assert any(r.methods & STATE_CHANGING for r in rules), f"{endpoint} takes no POST: remove it from NO_CSRF"
        assert not requires_csrf(app, endpoint), f"{endpoint} checks CSRF now: remove it from NO_CSRF"


def _dummy(converter) -> object:
    # By base class: the tool's <int:> is web.form_parsing.BoundedIntConverter, an IntegerConverter.
    for kind, value in ((IntegerConverter, 1), (FloatConverter, 1.0), (UUIDConverter, uuid.uuid4())):
        if isinstance(converter, kind):
            return value
    return "x"


def test_state_changing_routes_refuse_a_request_without_the_token(client, app):
    """Behind the static check: a signed-in tool admin's browser, tricked into posting to any protected route
    without the token, is refused before the view runs, and nothing is recorded."""
    launch_as(client, "demo-learner-ada", tool_admin=True)
    adapter = app.url_map.bind("localhost")
    events_before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    checked = 0
    for rule in state_changing_rules(app):
        if rule.endpoint in NO_CSRF:
            continue
        values = {arg: _dummy(rule._converters[arg]) for arg in rule.arguments}
        url = adapter.build(rule.endpoint, values)
        for method in sorted(rule.methods & STATE_CHANGING):
            resp = client.open(url, method=method, data={"x": "1"})
            assert resp.status_code in (400, 403), f"{method} {url}: HTTP {resp.status_code}"
            if resp.status_code == 400:
                assert b"Form expired" in resp.data, f"{method} {url}"
            checked += 1
    assert checked >= 10  # the admin console alone has more; a broken walk must not pass silently
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events_before
