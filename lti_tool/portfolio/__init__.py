"""A learner's portfolio of evidence against one certification version, and everything decided about it.

- core (this package's modules): the portfolio and submission models, the state machine (`workflow`, the
  one place that says which state may follow which), the submission snapshot (`snapshot`), coverage, who
  may see and change a portfolio (`access`), and the learner's service (`learner`: start, submit).
- `catalogue/`: certifications, units, outcomes, criteria; partners' offerings and own criteria.
- `evidence/`: evidence items and their files: upload checks, encrypted storage (local, S3), key rotation.
- `review/`: assessment, two-step verification, sampling, separation of duties, appeals, awards, queues.
- `views/`: the HTTP pages of learners, staff and appeals (thin: parse, call a service, render).

Dependency order inside: catalogue < core < evidence < review < views. Transitions are announced to the
listeners create_app registers (grade sync, credentials), so portfolio never imports grading.

May import: store, web, audit, launch, identity.
"""
