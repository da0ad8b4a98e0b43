"""The audit trail: append-only, tamper-evident events (each carries the hash of the one before it), who acted
(`actor.Actor`: a launched person or an operator label), and `lti-tool audit` to check and read the chain.

May import: store, web (its errors).
"""
