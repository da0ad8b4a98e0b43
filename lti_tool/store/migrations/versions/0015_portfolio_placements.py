"""portfolio placements: the other placements that open a portfolio started from another one (a unit placement
of its certification, a second placement of it), so that their gradebook columns and rosters show it

Rows of placements opened before this revision are written at their next opening (learner.open_placement).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "portfolio_placement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("resource_link_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolio.id"],
            name=op.f("fk_portfolio_placement_portfolio_id_portfolio"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_link_id"],
            ["lti_resource_link.id"],
            name=op.f("fk_portfolio_placement_resource_link_id_lti_resource_link"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_placement")),
        sa.UniqueConstraint(
            "portfolio_id", "resource_link_id", name=op.f("uq_portfolio_placement_portfolio_id_resource_link_id")
        ),
    )
    with op.batch_alter_table("portfolio_placement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_placement_resource_link_id"), ["resource_link_id"], unique=False)


def downgrade():
    with op.batch_alter_table("portfolio_placement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_placement_resource_link_id"))
    op.drop_table("portfolio_placement")
