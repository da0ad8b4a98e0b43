"""work claims

Who has taken an item of a staff work queue (portfolio/review/claim_models.py): one row per portfolio, valid
for the state it was made in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 03:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "work_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"], ["portfolio.id"], name=op.f("fk_work_claim_portfolio_id_portfolio"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["lti_user.id"], name=op.f("fk_work_claim_user_id_lti_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_claim")),
        sa.UniqueConstraint("portfolio_id", name=op.f("uq_work_claim_portfolio_id")),
    )
    with op.batch_alter_table("work_claim", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_claim_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("work_claim", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_claim_user_id"))
    op.drop_table("work_claim")
