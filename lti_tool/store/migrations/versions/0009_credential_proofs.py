"""credential proofs: the credential with its embedded Data Integrity proof (eddsa-rdfc-2022)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 04:20:00.000000

"""

import sqlalchemy as sa
from alembic import op

import lti_tool.store.db  # noqa: F401  (custom column types such as JSONText)

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("issued_credential") as batch_op:
        batch_op.add_column(sa.Column("proofed", lti_tool.store.db.JSONText(), nullable=True))


def downgrade():
    with op.batch_alter_table("issued_credential") as batch_op:
        batch_op.drop_column("proofed")
