"""learner experience: a portfolio may be unit-only (portfolio.unit_code)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 04:50:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("portfolio") as batch_op:
        batch_op.add_column(sa.Column("unit_code", sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table("portfolio") as batch_op:
        batch_op.drop_column("unit_code")
