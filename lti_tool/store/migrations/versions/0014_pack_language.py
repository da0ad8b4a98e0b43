"""pack language: pack_job.language, the language the pack's human-readable files are written in (issue 21)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 06:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("pack_job", schema=None) as batch_op:
        # Packs requested before: English, as they were written.
        batch_op.add_column(sa.Column("language", sa.String(length=20), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("pack_job", schema=None) as batch_op:
        batch_op.drop_column("language")
