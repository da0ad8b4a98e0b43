"""A platform's JWKS endpoint for the benchmarks: serves one JSON document at /jwks on loopback.

Usage: python bench/jwks_server.py PORT 'JWKS-JSON' [DELAY-MS]

DELAY-MS holds each answer back (no CPU used), as a platform across the internet would: a fresh HTTPS fetch
of its keyset costs the TCP and TLS handshakes and the request, three round trips or so.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    port, body = int(sys.argv[1]), sys.argv[2].encode()
    delay = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            if self.path != "/jwks":
                self.send_error(404)
                return
            if delay:
                time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
