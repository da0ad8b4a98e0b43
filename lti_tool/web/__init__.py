"""HTTP plumbing that knows no domain: errors a person can understand (`errors`), security headers and the
CSP, the request guard, rate limits, form parsing, request ids and logs, paging, and the thread a worker loop
runs in inside the web process (`background`). Domain facts it needs
(which platforms may frame the tool) are handed to it by create_app.

May import: store.
"""
