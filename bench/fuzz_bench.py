"""Fuzz every route as every role and count the answers of 500 or more (issue 20's goal: none in 100,000).

The app runs in process (Flask's test client) on SQLite, with the authorization matrix's world
(tests/authz_world.py): two partners, every kind of person launched, portfolios in each state, evidence,
an award, a grade job, an invite. Each request picks a route, a method it accepts, a role, URL values (real
ids, other people's ids, zero, numbers beyond 64 bits, text), a query string and a body (a form or
multipart; the CSRF token right, wrong, non-ASCII or missing; parts without a name; NULs; huge and odd
values), all from a seeded random generator, so a run can be repeated.

    .venv/bin/python bench/fuzz_bench.py                 # 100,000 requests
    .venv/bin/python bench/fuzz_bench.py -n 20000 --seed 7

Prints the count of responses >= 500 (with the first few, to reproduce), the status mix and requests/s.
"""

from __future__ import annotations

import argparse
import io
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.routing import Rule  # noqa: E402

from lti_tool.store.db import db  # noqa: E402
from tests import authz_world as aw  # noqa: E402
from tests.conftest import make_test_app  # noqa: E402
from tests.lti_helpers import JwksServer  # noqa: E402

HUGE = [str(2**64), str(2**70), "9" * 30, "2147483648", "9" * 5000]
ODD_NUMBERS = ["0", "-1", "1.5", "1e309", "²", "١٢", "1_0", " 1", "0x10", "NaN"]
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "null",
    "[]",
    "{}",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "../../etc/passwd",
    "%00",
    "%ff%fe",
    "\ufeff",
    "ﬁ",
    "İ",
    "\u202e",
    "💥",
    "a\r\nSet-Cookie: x=1",
    "https://evil.example/",
    "javascript:alert(1)",
    "x" * 5000,
    "é" * 300,
]
# Field names the tool's forms use (and a few no form uses).
FIELDS = [
    "csrf_token",
    "title",
    "description",
    "kind",
    "evidence_date",
    "criteria",
    "remove_files",
    "attempt",
    "note",
    "decision",
    "outcome",
    "reason",
    "comment",
    "status",
    "hours",
    "partner_id",
    "deployment_id",
    "user_id",
    "role",
    "certification",
    "certification_code",
    "unit_codes",
    "choices",
    "name",
    "slug",
    "issuer",
    "client_id",
    "active",
    "confirm",
    "id_token",
    "state",
    "lti_storage_proof",
    "openid_configuration",
    "registration_token",
    "page",
    "number",
    "kid",
    "_s",
    "grounds",
    "verdict",
]
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


class Fuzzer:
    def __init__(self, app: Any, world: Any, seed: int) -> None:
        self.app = app
        self.world = world
        self.rnd = random.Random(seed)
        self.rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
        self.int_ids = sorted({v for v in world.ids.values() if isinstance(v, int) and not isinstance(v, bool)})
        self.str_ids = sorted({v for v in world.ids.values() if isinstance(v, str)})
        self.escaped: list[str] = []  # exceptions that escaped the app (status 599 in the counts)

    def value(self) -> str:
        pick = self.rnd.random()
        if pick < 0.3 and self.int_ids:
            return str(self.rnd.choice(self.int_ids))
        if pick < 0.45:
            return self.rnd.choice(HUGE)
        if pick < 0.55:
            return self.rnd.choice(ODD_NUMBERS)
        if pick < 0.65 and self.str_ids:
            return self.rnd.choice(self.str_ids)
        if pick < 0.85:
            return self.rnd.choice(NASTY)
        return "".join(chr(self.rnd.randint(1, 0x2FFF)) for _ in range(self.rnd.randint(1, 20)))

    def url_value(self, converter: str) -> str:
        if converter == "IntegerConverter" or converter == "BoundedIntConverter":
            roll = self.rnd.random()
            if roll < 0.7 and self.int_ids:
                return str(self.rnd.choice(self.int_ids))
            return self.rnd.choice(["0", "1", "2", *HUGE[:4]])
        roll = self.rnd.random()
        if roll < 0.5 and self.str_ids:
            return self.rnd.choice(self.str_ids)
        return self.rnd.choice(["x", "CMIACR", "ÄÖ", "..", "%00", "a" * 300, "💥", "1"])

    def url(self, rule: Rule) -> str:
        parts = []
        for is_dynamic, data in rule._trace:  # noqa: SLF001  (werkzeug keeps no public list of parts)
            if not is_dynamic:
                parts.append(data)
                continue
            converter = type(rule._converters[data]).__name__  # noqa: SLF001
            parts.append(self.url_value(converter))
        path = "".join(parts).split("|", 1)[-1]
        return path if path.startswith("/") else "/" + path

    def form(self, actor: Any) -> tuple[dict[str, Any] | bytes, str | None]:
        fields: dict[str, Any] = {}
        for _ in range(self.rnd.randint(0, 6)):
            name = self.rnd.choice(FIELDS) if self.rnd.random() < 0.9 else self.value()[:40]
            value: Any = self.value()
            if self.rnd.random() < 0.2:
                value = [self.value() for _ in range(self.rnd.randint(1, 3))]
            fields[name] = value
        csrf = actor.csrf
        roll = self.rnd.random()
        if csrf and roll < 0.6:
            fields["csrf_token"] = csrf
        elif roll < 0.75:
            fields["csrf_token"] = self.rnd.choice(["é" * 43, "💥", csrf[:-1] + "é" if csrf else "x", "\x00"])
        kind = self.rnd.random()
        if kind < 0.1:  # multipart with a part without a name, the rest as usual
            body = io.BytesIO()
            for name, value in fields.items():
                for v in value if isinstance(value, list) else [value]:
                    body.write(f'--B\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
                    body.write(str(v).encode("utf-8", "surrogatepass") + b"\r\n")
            disposition = self.rnd.choice(["form-data", 'form-data; filename="a.pdf"', "form-data; name="])
            body.write(f"--B\r\nContent-Disposition: {disposition}\r\n\r\n%PDF-1.4 x\r\n--B--\r\n".encode())
            return body.getvalue(), "multipart/form-data; boundary=B"
        if kind < 0.25:
            name = self.rnd.choice(["files", "file", "upload", self.value()[:20]])
            content = self.rnd.choice([aw.pdf("fuzz"), b"", b"\x00" * 100, b"MZ" + b"\x00" * 50, b"PK\x03\x04"])
            fields[name] = (io.BytesIO(content), self.rnd.choice(["a.pdf", "", "../x.pdf", "é.docx", "a" * 300]))
            return fields, "multipart/form-data"
        return fields, None

    def one(self) -> tuple[int, str, str, str]:
        rule = self.rnd.choice(self.rules)
        methods = sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"}) or ["GET"]
        method = self.rnd.choice(methods)
        role = self.rnd.choice(aw.ROLES)
        actor = self.world.actors[role]
        url = self.url(rule)
        query = {self.rnd.choice(FIELDS): self.value() for _ in range(self.rnd.randint(0, 3))}
        kwargs: dict[str, Any] = {"query_string": query}
        if method in STATE_CHANGING:
            data, content_type = self.form(actor)
            kwargs["data"] = data
            if content_type:
                kwargs["content_type"] = content_type
        if self.rnd.random() < 0.1:
            # Header values cannot carry line breaks (the client refuses to send them, as any HTTP client).
            token = "".join(c for c in self.value() if c not in "\r\n")
            kwargs["headers"] = {"X-CSRF-Token": token, "Accept": "application/json"}
        try:
            resp = actor.client.open(url, method=method, **kwargs)
            status = resp.status_code
            resp.close()
        except Exception as exc:  # noqa: BLE001  (an exception escaping the app is a failure too)
            status = 599
            self.escaped.append(f"{method} {url[:120]!r}: {exc!r}"[:400])
        return status, method, rule.rule, role


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--show", type=int, default=10, help="how many 5xx cases to print")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fuzz-bench-"))
    jwks = JwksServer()
    app = make_test_app("sqlite", tmp, tmp / "keys")
    logging.getLogger().setLevel(logging.CRITICAL)  # refusals are logged at INFO; the counts are what matter
    with app.app_context():
        world = aw.build_world(app, jwks)
        db.session.remove()
        fuzzer = Fuzzer(app, world, args.seed)
        statuses: Counter[int] = Counter()
        failures: Counter[tuple[int, str, str]] = Counter()
        examples: list[str] = []
        started = time.perf_counter()
        for i in range(1, args.requests + 1):
            status, method, rule, role = fuzzer.one()
            statuses[status] += 1
            if status >= 500:
                failures[(status, method, rule)] += 1
                if len(examples) < args.show:
                    examples.append(f"  {status} {method} {rule} as {role}")
            db.session.remove()
            if i % 10_000 == 0:
                elapsed = time.perf_counter() - started
                print(f"  {i:,} requests, {sum(failures.values())} >= 500, {i / elapsed:,.0f}/s", flush=True)
        elapsed = time.perf_counter() - started
    jwks.close()
    errors = sum(failures.values())
    print(f"routes: {len(fuzzer.rules)}, roles: {len(aw.ROLES)}, seed: {args.seed}")
    print("statuses: " + ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items())))
    for (status, method, rule), count in failures.most_common(20):
        print(f"  {count:>6} x {status} {method} {rule}")
    if examples:
        print("first cases:\n" + "\n".join(examples))
    for line in fuzzer.escaped[: args.show]:
        print("  escaped: " + line)
    print(f"responses >= 500: {errors} in {args.requests:,} requests ({args.requests / elapsed:,.0f} requests/s)")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
