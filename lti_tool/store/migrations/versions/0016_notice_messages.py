"""notice messages: notification.template and notification.params, the message a notice was written from and its
values, so that a page can say it again in the reader's language

Notices written before keep none: they are shown as they were written.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 17:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

import lti_tool.store.db

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("params", lti_tool.store.db.JSONText(), nullable=True))


def downgrade():
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("params")
        batch_op.drop_column("template")
