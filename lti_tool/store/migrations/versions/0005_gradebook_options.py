"""gradebook options

Per deployment, whether the LMS gets a separate learning credits column (grading/gradebook.py). Off unless a
tool administrator turns it on: a credits column counts into Moodle's course total, and on Open edX it would
overwrite the activity's grade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:20:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "grade_gradebook_option",
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("credits_column", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["lti_deployment.id"],
            name=op.f("fk_grade_gradebook_option_deployment_id_lti_deployment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", name=op.f("pk_grade_gradebook_option")),
    )


def downgrade():
    op.drop_table("grade_gradebook_option")
