"""eqa packs

Packs of portfolios for external quality assurance, built in the background (lti_tool/eqa/models.py): one
row per request, with its progress, file and expiry.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 04:20:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "pack_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_label", sa.String(length=300), nullable=False),
        sa.Column("portfolio_ids", sa.Text(), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=120), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["lti_user.id"], name=op.f("fk_pack_job_requested_by_id_lti_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pack_job")),
    )
    with op.batch_alter_table("pack_job", schema=None) as batch_op:
        batch_op.create_index("ix_pack_job_state", ["state", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pack_job_requested_by_id"), ["requested_by_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pack_job_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("pack_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pack_job_expires_at"))
        batch_op.drop_index(batch_op.f("ix_pack_job_requested_by_id"))
        batch_op.drop_index("ix_pack_job_state")
    op.drop_table("pack_job")
