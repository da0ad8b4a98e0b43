"""audit events say which hash format they were written in (format 2 also hashes the id)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # Existing events keep format 1 (the server default): their hashes were computed without the id, and an
    # audit trail is never re-hashed.
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hash_format", sa.SmallInteger(), server_default="1", nullable=False))


def downgrade():
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("hash_format")
