"""Intake's business tables: dossiers, documents, uploads, history, code counters, population
lookups, wrong tracking second factors, and the tracking and KPI read models.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('code_sequences',
    sa.Column('agency', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('agency', 'day', name=op.f('pk_code_sequences'))
    )
    op.create_table('dossiers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('procedure_code', sa.String(length=32), nullable=False),
    sa.Column('procedure_version', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('receiving_agency', sa.String(length=32), nullable=False),
    sa.Column('competent_agency', sa.String(length=32), nullable=False),
    sa.Column('applicant_kind', sa.String(length=16), nullable=False),
    sa.Column('applicant_name_masked', sa.String(length=255), nullable=False),
    sa.Column('second_factor_hash', sa.String(length=64), nullable=True),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('submitted_at', UTCDateTime(), nullable=False),
    sa.Column('answer_due_at', UTCDateTime(), nullable=True),
    sa.Column('answer_alerted_at', UTCDateTime(), nullable=True),
    sa.Column('accepted_at', UTCDateTime(), nullable=True),
    sa.Column('due_at', UTCDateTime(), nullable=True),
    sa.Column('clock_started_at', UTCDateTime(), nullable=True),
    sa.Column('supplement_requests', sa.SmallInteger(), nullable=False),
    sa.Column('supplement_due_at', UTCDateTime(), nullable=True),
    sa.Column('missing_items', sa.JSON(), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('fee_exemption_group', sa.String(length=32), nullable=True),
    sa.Column('fee_lines', sa.JSON(), nullable=True),
    sa.Column('processing_supplement_open', sa.Boolean(), nullable=False),
    sa.Column('result_issued', sa.Boolean(), nullable=False),
    sa.Column('submitted_by', sa.String(length=128), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossiers')),
    sa.UniqueConstraint('code', name=op.f('uq_dossiers_code'))
    )
    op.create_index('ix_dossiers_agency_status', 'dossiers', ['receiving_agency', 'status'], unique=False)
    op.create_index('ix_dossiers_answer_due', 'dossiers', ['status', 'answer_due_at'], unique=False)
    op.create_index('ix_dossiers_supplement_due', 'dossiers', ['status', 'supplement_due_at'], unique=False)
    op.create_table('kpi_facts',
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('agency', sa.String(length=32), nullable=True),
    sa.Column('procedure_code', sa.String(length=32), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=True),
    sa.Column('online_enabled', sa.Boolean(), nullable=True),
    sa.Column('fee_bearing', sa.Boolean(), nullable=True),
    sa.Column('submitted_at', UTCDateTime(), nullable=True),
    sa.Column('accepted_at', UTCDateTime(), nullable=True),
    sa.Column('refused_at_reception', sa.Boolean(), nullable=False),
    sa.Column('supplement_at_reception', sa.Boolean(), nullable=False),
    sa.Column('digitised_input', sa.Boolean(), nullable=False),
    sa.Column('paid_online', sa.Boolean(), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=True),
    sa.Column('extended_due_at', UTCDateTime(), nullable=True),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.Column('finish_status', sa.SmallInteger(), nullable=True),
    sa.Column('electronic_result', sa.Boolean(), nullable=False),
    sa.Column('rating', sa.SmallInteger(), nullable=True),
    sa.Column('rating_comment', sa.Text(), nullable=True),
    sa.Column('rated_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('dossier_id', name=op.f('pk_kpi_facts'))
    )
    op.create_index('ix_kpi_facts_agency_procedure', 'kpi_facts', ['agency', 'procedure_code'], unique=False)
    op.create_table('population_lookups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subject_hash', sa.String(length=64), nullable=False),
    sa.Column('subject_masked', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('agency', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=255), nullable=False),
    sa.Column('procedure_code', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_population_lookups'))
    )
    op.create_index(op.f('ix_population_lookups_subject_hash'), 'population_lookups', ['subject_hash'], unique=False)
    op.create_table('tracking_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', UTCDateTime(), nullable=False),
    sa.Column('national_status', sa.SmallInteger(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_entries')),
    sa.UniqueConstraint('dossier_id', 'event_id', name='uq_tracking_entries_dossier_event')
    )
    op.create_table('tracking_status',
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('national_status', sa.SmallInteger(), nullable=True),
    sa.Column('status_at', UTCDateTime(), nullable=True),
    sa.Column('due_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('dossier_id', name=op.f('pk_tracking_status'))
    )
    op.create_table('uploads',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=128), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('attached_to', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads'))
    )
    op.create_table('dossier_documents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('document_code', sa.String(length=64), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('upload_id', sa.String(length=36), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=128), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('attached_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_dossier_documents_dossier_id_dossiers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_documents'))
    )
    op.create_index(op.f('ix_dossier_documents_dossier_id'), 'dossier_documents', ['dossier_id'], unique=False)
    op.create_table('dossier_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=True),
    sa.Column('to_status', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_dossier_history_dossier_id_dossiers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_history'))
    )
    op.create_index(op.f('ix_dossier_history_dossier_id'), 'dossier_history', ['dossier_id'], unique=False)


    op.create_table('tracking_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_failures'))
    )
    op.create_index('ix_tracking_failures_code_at', 'tracking_failures', ['code', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_tracking_failures_code_at', table_name='tracking_failures')
    op.drop_table('tracking_failures')
    op.drop_index(op.f('ix_dossier_history_dossier_id'), table_name='dossier_history')
    op.drop_table('dossier_history')
    op.drop_index(op.f('ix_dossier_documents_dossier_id'), table_name='dossier_documents')
    op.drop_table('dossier_documents')
    op.drop_table('uploads')
    op.drop_table('tracking_status')
    op.drop_table('tracking_entries')
    op.drop_index(op.f('ix_population_lookups_subject_hash'), table_name='population_lookups')
    op.drop_table('population_lookups')
    op.drop_index('ix_kpi_facts_agency_procedure', table_name='kpi_facts')
    op.drop_table('kpi_facts')
    op.drop_index('ix_dossiers_supplement_due', table_name='dossiers')
    op.drop_index('ix_dossiers_answer_due', table_name='dossiers')
    op.drop_index('ix_dossiers_agency_status', table_name='dossiers')
    op.drop_table('dossiers')
    op.drop_table('code_sequences')
