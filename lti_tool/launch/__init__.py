"""LTI 1.3 launches and the tool session they start: OIDC login and message launch (pylti1p3), platform
registrations and deployments (dynamic and manual), the tool's and platforms' keys, the shared state and
nonce cache, where a launch lands (`landing`), and the session every page reads (`session`).

Rules: `registrations` (registering and (de)activating platforms and deployments), `claim_checks` (what an
id_token must say), `session` (who is calling, CSRF). Who is told of a launch (pending staff grants) is
declared by create_app, so launch does not import identity.

May import: store, web, audit.
"""
