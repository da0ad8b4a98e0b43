"""Platforms' token and AGS endpoints for the grade sync benchmark, on loopback, in a process of their own.

Usage: python bench/ags_server.py PORT TOKEN_LIFETIME_SECONDS

Every platform n lives under /p/<n>/: POST token (OAuth2 client credentials), GET/POST lineitems (AGS line
item container, filtered by resource_link_id), POST lineitems/<id>/scores. Scores are checked as Moodle
checks them (userId, ISO 8601 timestamp with an offset, activityProgress, gradingProgress, scoreMaximum
with scoreGiven) and a bearer token this server issued and that has not expired is required. GET /stats
gives the counts (and with ?detail=1 every score received, in order); POST /reset clears everything.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACTIVITY = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"


class State:
    """Everything received; one lock (the handlers' work under it is a few dictionary updates)."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (platform, expiry)
        self.token_requests: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()  # kind of request -> count
        self.line_items: dict[str, list[dict[str, Any]]] = {}  # platform -> items
        self.scores: list[tuple[str, str, str, str]] = []  # (platform, item id, userId, timestamp), in order
        self.invalid = 0
        self.first_invalid = ""
        self.unauthorized = 0

    def stats(self, detail: bool) -> dict[str, Any]:
        keys = Counter(self.scores)
        out: dict[str, Any] = {
            "token_requests": dict(self.token_requests),
            "requests": dict(self.requests),
            "scores": len(self.scores),
            "distinct_scores": len(keys),
            "duplicates": sum(n - 1 for n in keys.values() if n > 1),
            "line_items": {p: len(items) for p, items in self.line_items.items()},
            "invalid": self.invalid,
            "first_invalid": self.first_invalid,
            "unauthorized": self.unauthorized,
        }
        if detail:
            out["received"] = self.scores
        return out


def score_problem(body: Any) -> str:
    """Why a score would be refused (as Moodle refuses it), or ''."""
    if not isinstance(body, dict):
        return "the score is not a JSON object"
    if not isinstance(body.get("userId"), str) or not body["userId"]:
        return "no userId"
    try:
        stamp = dt.datetime.fromisoformat(str(body.get("timestamp")).replace("Z", "+00:00"))
    except ValueError:
        return "the timestamp is not ISO 8601"
    if stamp.tzinfo is None:
        return "the timestamp has no UTC offset"
    if body.get("activityProgress") not in ACTIVITY:
        return "no valid activityProgress"
    if body.get("gradingProgress") not in GRADING:
        return "no valid gradingProgress"
    if "scoreGiven" in body:
        given, maximum = body["scoreGiven"], body.get("scoreMaximum")
        if not isinstance(maximum, int | float) or maximum <= 0:
            return "scoreGiven without a positive scoreMaximum"
        if not isinstance(given, int | float) or not 0 <= given <= maximum:
            return "scoreGiven is not a number between 0 and scoreMaximum"
    return ""


def make_handler(state: State, base: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a worker's connection is reused
        # Headers and body leave in one segment: written apart, Nagle and delayed ACKs hold the body ~40 ms.
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True

        def _send(self, status: int, body: Any = None, content_type: str = "application/json") -> None:
            raw = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if raw:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _read(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorised(self, platform: str) -> bool:
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            with state.lock:
                issued = state.tokens.get(token)
                ok = issued is not None and issued[0] == platform and issued[1] > time.time()
                if not ok:
                    state.unauthorized += 1
            if not ok:
                self._send(401, {"error": "invalid_token"})
            return ok

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            if parts.path == "/stats":
                with state.lock:
                    self._send(200, state.stats("detail=1" in parts.query))
                return
            segments = parts.path.strip("/").split("/")
            if len(segments) == 3 and segments[0] == "p" and segments[2] == "lineitems":
                platform = segments[1]
                if not self._authorised(platform):
                    return
                wanted = parse_qs(parts.query).get("resource_link_id", [None])[0]
                with state.lock:
                    state.requests["lineitems GET"] += 1
                    items = [
                        i
                        for i in state.line_items.get(platform, [])
                        if wanted is None or i.get("resourceLinkId") == wanted
                    ]
                self._send(200, items, "application/vnd.ims.lis.v2.lineitemcontainer+json")
                return
            self._send(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            body = self._read()
            if parts.path == "/reset":
                with state.lock:
                    state.reset()
                self._send(204)
                return
            segments = parts.path.strip("/").split("/")
            if len(segments) < 3 or segments[0] != "p":
                self._send(404, {"error": "not found"})
                return
            platform, rest = segments[1], segments[2:]
            if rest == ["token"]:
                self._token(platform, body)
            elif rest == ["lineitems"]:
                self._create_line_item(platform, body)
            elif len(rest) == 3 and rest[0] == "lineitems" and rest[2] == "scores":
                self._score(platform, rest[1], body)
            else:
                self._send(404, {"error": "not found"})

        def _token(self, platform: str, body: bytes) -> None:
            form = parse_qs(body.decode())
            if (
                form.get("grant_type") != ["client_credentials"]
                or not form.get("client_assertion")
                or not form.get("scope")
            ):
                self._send(400, {"error": "invalid_request"})
                return
            token = f"p{platform}-{uuid.uuid4().hex}"
            with state.lock:
                state.token_requests[platform] += 1
                state.requests["token"] += 1
                state.tokens[token] = (platform, time.time() + state.lifetime)
            self._send(
                200,
                {
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": state.lifetime,
                    "scope": form["scope"][0],
                },
            )

        def _create_line_item(self, platform: str, body: bytes) -> None:
            if not self._authorised(platform):
                return
            item = json.loads(body)
            with state.lock:
                state.requests["lineitems POST"] += 1
                items = state.line_items.setdefault(platform, [])
                item["id"] = f"{base}/p/{platform}/lineitems/{platform}-{len(items) + 1}"
                items.append(item)
            self._send(200, item, "application/vnd.ims.lis.v2.lineitem+json")

        def _score(self, platform: str, item_id: str, body: bytes) -> None:
            if not self._authorised(platform):
                return
            problem = "wrong Content-Type" if self.headers.get("Content-Type") != SCORE_TYPE else ""
            try:
                score = json.loads(body)
            except ValueError:
                score, problem = None, problem or "not JSON"
            problem = problem or score_problem(score)
            with state.lock:
                state.requests["scores POST"] += 1
                if problem:
                    state.invalid += 1
                    state.first_invalid = state.first_invalid or problem
                else:
                    state.scores.append((platform, item_id, score["userId"], score["timestamp"]))
            if problem:
                self._send(400, {"error": problem})
            else:
                self._send(204)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    port, lifetime = int(sys.argv[1]), int(sys.argv[2])
    state = State(lifetime)
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state, f"http://127.0.0.1:{port}"))
    server.serve_forever()


if __name__ == "__main__":
    main()
