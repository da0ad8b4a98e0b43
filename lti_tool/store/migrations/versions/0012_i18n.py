"""languages: certification.translations, a catalogue file's words in other languages (issue 21)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 04:50:00.000000

"""

import sqlalchemy as sa
from alembic import op

import lti_tool.store.db

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("certification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("translations", lti_tool.store.db.JSONText(), nullable=True))


def downgrade():
    with op.batch_alter_table("certification", schema=None) as batch_op:
        batch_op.drop_column("translations")
