"""Results back to the LMS: AGS line items and scores through a durable outbox and worker, deep linking
with line items, and the instructor's roster (NRPS).

For other packages: `outbox.enqueue_for_state(portfolio)` in the transaction that creates a portfolio (the
"started" score); every later state change reaches `outbox.on_portfolio_transition`, which `create_app`
registers as a transition listener, and a placement recorded as opening a portfolio started from another one
reaches `outbox.on_portfolio_placed` (a placement listener).

May import: store, web, audit, launch, identity, portfolio (core, catalogue, review). Nothing in portfolio
imports grading: portfolio reports changes through the transition listeners.
"""
