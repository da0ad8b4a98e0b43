"""Telling people when something happens: notices in the tool (a list per person, an unread count in every
page's header) and by e-mail through a durable outbox.

- `rules` decides who is told what for each event, in plain functions; `events` turns a portfolio transition,
  a failed grade job or a registration waiting for activation into notices, inside the event's transaction;
  `scan` finds what time alone brings (appeal deadlines coming up, overdue work, daily digests).
- `notify` writes one notice (once per event and person: a unique event key) and, when the person wants
  e-mail and the tool has their address, its message in the mail outbox, in the same transaction.
- `delivery` is the worker: it claims messages, hands them to the SMTP server (or the demo platform's
  mailbox), retries with backoff, and records each one as sent. `mail` builds the messages (text and HTML,
  unsubscribe headers), `links` the addresses in them: never a session token.
- `views`: the notifications page, preferences, the public pages a mail links to (open, unsubscribe) and the
  administrators' view of the outbox.

Portfolio, grading and launch never import this package: `create_app` registers its listeners.

May import: store, web, audit, launch, identity, portfolio (core, catalogue, review), grading, credentials.
Imported by: portfolio.views, admin, demo_platform, and the wiring (app, commands).
"""
