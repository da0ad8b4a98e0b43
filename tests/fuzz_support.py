"""Shared pieces of the adversarial tests: hypothesis settings, input strategies, and the property every
refusal must have (a 4xx with a message a person can read, and nothing written)."""

from __future__ import annotations

import atexit
import base64
import html
import json
import os
import re
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lti_tool.launch.models import Deployment, LtiContext, LtiUser, Membership, Registration, ResourceLink, ToolSession
from lti_tool.store.db import db

# Bounded so the suite stays fast on both backends; raise LTI_FUZZ_EXAMPLES for a long run.
EXAMPLES = int(os.environ.get("LTI_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    # Every example makes real HTTP requests against a database: slow by hypothesis' standards, on purpose.
    # The app fixture is shared by the examples; each example leaves the watched tables as it found them.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# Generated cases per test, written to $LTI_FUZZ_REPORT at exit (the README's hardening table comes from it).
CASES: Counter[str] = Counter()


def tally() -> None:
    CASES[os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]] += 1


@atexit.register
def _write_report() -> None:
    if os.environ.get("LTI_FUZZ_REPORT") and CASES:
        with open(os.environ["LTI_FUZZ_REPORT"], "w") as fh:
            json.dump(dict(sorted(CASES.items())), fh, indent=1)


WATCHED = (LtiUser, ToolSession, Registration, Deployment, LtiContext, ResourceLink, Membership)


def row_counts() -> dict[str, int]:
    """Committed rows per watched table, read on a connection of its own (what another process would see)."""
    with db.engine.connect() as conn:
        return {m.__tablename__: conn.scalar(select(func.count()).select_from(m)) or 0 for m in WATCHED}


def message_of(resp: Any) -> str:
    if resp.is_json:
        body = resp.get_json(silent=True)
        return str(body.get("message", "")) if isinstance(body, dict) else ""
    found = re.search(r'<p class="error-message">(.*?)</p>', resp.data.decode("utf-8", "replace"), re.S)
    return html.unescape(found.group(1)).strip() if found else ""


def assert_clean_refusal(resp: Any, what: str = "") -> None:
    """A 4xx with a readable message: never a 5xx, never a traceback, never a success for a bad input."""
    text = resp.data.decode("utf-8", "replace")
    assert 400 <= resp.status_code < 500, f"{what}: HTTP {resp.status_code}\n{text[:2000]}"
    assert "Traceback" not in text, what
    assert message_of(resp), f"{what}: HTTP {resp.status_code} without a message\n{text[:2000]}"


# --- strategies ---------------------------------------------------------------------------------

# Text a browser or a platform could send: any unicode except lone surrogates (not encodable), NUL included.
any_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=80)
# Huge values are cheap to build by repetition; hypothesis would otherwise spend its budget generating them.
huge_text = st.builds(
    lambda n, c: c * n,
    st.sampled_from([300, 5_000, 70_000, 300_000]),
    st.sampled_from(["x", "é", "\u202e", "%", "\x00", "💥"]),
)
nasty_text = st.one_of(
    any_text,
    huge_text,
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "null",
            "[]",
            "{}",
            "0",
            "-1",
            "1e309",
            "http://[",
            "https://a:99999/",
            "//evil.example/x",
            "javascript:alert(1)",
            "<script>alert(1)</script>",
            "' OR '1'='1",
            "../../etc/passwd",
            "%00",
            "%ff%fe",
            "\ufeff",
            "ﬁ",
            "İ",
            "a\r\nSet-Cookie: x=1",
        ]
    ),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
    huge_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


# A JWT segment: valid base64 of JSON (of any shape), base64 of non-JSON, or not base64 at all.
jwt_segments = st.one_of(
    json_values.map(b64json),
    st.binary(max_size=200).map(b64url),
    any_text,
    st.sampled_from(["", "=", "====", "e30", "W10", "bnVsbA", "!!!", "a.b", "ewo"]),
)
