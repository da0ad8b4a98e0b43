"""Verifiable awards: Open Badges 3.0 credentials signed as VC-JWT and with an embedded Data Integrity proof
(eddsa-rdfc-2022, strict JSON-LD against the contexts in contexts/), a revocation status list, public
verification pages, learner downloads, sharing (LinkedIn, wallet hand-off) and a printable certificate.

An employer or regulator checks an award without calling anyone: the signed credential names its issuer,
the issuer's keys are published at stable URLs, and the status list says whether it was revoked.

May import: store, web, audit, launch, identity, portfolio (core, catalogue, review).
"""
