"""Judging portfolios: the assessor's decision criterion by criterion, the two verification steps (the first
risk-sampled), separation of duties (`duties`), appeals, awards (certificate number, credits), and the staff
work queues.

May import: store, web, audit, launch, identity, portfolio (core), portfolio.catalogue, portfolio.evidence.
"""
