"""launch counters

Per-day counts of how launches ended (signed in inside the LMS frame, needed the new-window handoff,
completed it, failed), shown on the admin console (launch/counters.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "launch_counter",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "outcome", name=op.f("pk_launch_counter")),
    )


def downgrade():
    op.drop_table("launch_counter")
