"""Routing's business tables: workflow instances, tasks, history.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('actor_name', sa.String(length=255), nullable=True),
    sa.Column('agency', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('step', sa.String(length=64), nullable=True),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('remaining_hours', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_history'))
    )
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_history_dossier_id'), ['dossier_id'], unique=False)

    op.create_table('instances',
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('dossier_code', sa.String(length=64), nullable=False),
    sa.Column('procedure_code', sa.String(length=32), nullable=False),
    sa.Column('procedure_version', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('receiving_agency', sa.String(length=32), nullable=False),
    sa.Column('competent_agency', sa.String(length=32), nullable=False),
    sa.Column('competent_agency_name', sa.String(length=255), nullable=True),
    sa.Column('workflow_id', sa.String(length=64), nullable=False),
    sa.Column('workflow_version', sa.String(length=16), nullable=False),
    sa.Column('result_template', sa.String(length=64), nullable=True),
    sa.Column('payment_timing', sa.String(length=24), nullable=False),
    sa.Column('clock_starts', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('accepted_at', UTCDateTime(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=True),
    sa.Column('due_at', UTCDateTime(), nullable=True),
    sa.Column('original_due_at', UTCDateTime(), nullable=True),
    sa.Column('paused_at', UTCDateTime(), nullable=True),
    sa.Column('paused_hours', sa.Float(), nullable=False),
    sa.Column('extended_at', UTCDateTime(), nullable=True),
    sa.Column('extension', sa.JSON(), nullable=True),
    sa.Column('overdue_at', UTCDateTime(), nullable=True),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('decided_by_agency', sa.String(length=32), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('dossier_id', name=op.f('pk_instances'))
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_state_due', ['state', 'due_at'], unique=False)

    op.create_table('tasks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('step', sa.String(length=64), nullable=False),
    sa.Column('step_name', sa.String(length=255), nullable=False),
    sa.Column('agency', sa.String(length=32), nullable=False),
    sa.Column('unit', sa.String(length=255), nullable=True),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('assignee', sa.String(length=128), nullable=True),
    sa.Column('consult_group', sa.String(length=36), nullable=True),
    sa.Column('join_step', sa.String(length=64), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=True),
    sa.Column('claimed_at', UTCDateTime(), nullable=True),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.Column('completed_by', sa.String(length=128), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=True),
    sa.Column('worked_hours', sa.Float(), nullable=True),
    sa.Column('on_time', sa.Integer(), nullable=True),
    sa.Column('due_soon_at', UTCDateTime(), nullable=True),
    sa.Column('overdue_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_agency_state_due', ['agency', 'state', 'due_at'], unique=False)
        batch_op.create_index('ix_tasks_completed', ['completed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index('ix_tasks_state_due', ['state', 'due_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_state_due')
        batch_op.drop_index(batch_op.f('ix_tasks_dossier_id'))
        batch_op.drop_index('ix_tasks_completed')
        batch_op.drop_index('ix_tasks_agency_state_due')

    op.drop_table('tasks')
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_state_due')

    op.drop_table('instances')
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_history_dossier_id'))

    op.drop_table('history')
