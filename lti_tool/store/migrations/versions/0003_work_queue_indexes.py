"""work queue indexes

Staff work queues are counted and paged in SQL (portfolio/queues.py). A page reads one state in waiting order
and stops once it has a page of items: (state, state_changed_at, id) serves that. It replaces the
single-column indexes on state (its prefix) and on state_changed_at (read only by the queues). Every queue
also leaves out the appeals the person decided: appeals are indexed by who decided them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:10:00.000000

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("portfolio", schema=None) as batch_op:
        batch_op.create_index("ix_portfolio_queue_order", ["state", "state_changed_at", "id"], unique=False)
        batch_op.drop_index(batch_op.f("ix_portfolio_state"))
        batch_op.drop_index(batch_op.f("ix_portfolio_state_changed_at"))

    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeal_decided_by_id"), ["decided_by_id"], unique=False)


def downgrade():
    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_decided_by_id"))

    with op.batch_alter_table("portfolio", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_state_changed_at"), ["state_changed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_portfolio_state"), ["state"], unique=False)
        batch_op.drop_index("ix_portfolio_queue_order")
