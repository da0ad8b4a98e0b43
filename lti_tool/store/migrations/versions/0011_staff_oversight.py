"""staff oversight

Caseload limits per member of staff (portfolio/review/claim_models.py StaffCaseload): how many queue items one
person may hold at once, set by a tool administrator.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 04:50:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staff_caseload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("max_items", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["lti_user.id"], name=op.f("fk_staff_caseload_user_id_lti_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_caseload")),
        sa.UniqueConstraint("user_id", name=op.f("uq_staff_caseload_user_id")),
    )


def downgrade():
    op.drop_table("staff_caseload")
