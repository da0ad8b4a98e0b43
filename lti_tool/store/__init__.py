"""Persistence plumbing: the one SQLAlchemy handle and typed Model base (`db`), the schema and its Alembic
migrations (`schema`, `migrations/`), start-up with several processes (`startup`), and secret files
written atomically (`files`).

May import: nothing of the tool's (the bottom layer).
"""
