"""The portfolio's HTTP pages: the learner's (portfolio, evidence, submission), the staff's (queues,
assessment, verification, appeal decisions) and the appeal page. Thin handlers: every rule is in
portfolio.access, portfolio.workflow and the review services.

May import: every package below it: store, web, audit, launch, identity, portfolio.*.
"""
