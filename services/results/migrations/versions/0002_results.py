"""Results' business tables: dossiers, results, number series, postal orders, the exchange audit log.

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
    op.create_table('dossiers',
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('dossier_code', sa.String(length=64), nullable=False),
    sa.Column('procedure_code', sa.String(length=32), nullable=False),
    sa.Column('procedure_name', sa.String(length=500), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('holder', sa.LargeBinary(), nullable=True),
    sa.Column('applicant_ref', sa.String(length=64), nullable=True),
    sa.Column('competent_agency', sa.String(length=32), nullable=True),
    sa.Column('competent_agency_name', sa.String(length=255), nullable=True),
    sa.Column('payment_timing', sa.String(length=24), nullable=True),
    sa.Column('paid', sa.Boolean(), nullable=False),
    sa.Column('decision', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('dossier_id', name=op.f('pk_dossiers'))
    )
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossiers_applicant_ref'), ['applicant_ref'], unique=False)

    op.create_table('exchange_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('agency', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('applicant_ref', sa.String(length=64), nullable=False),
    sa.Column('procedure_code', sa.String(length=32), nullable=True),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=True),
    sa.Column('result_ids', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_audit'))
    )
    with op.batch_alter_table('exchange_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_audit_applicant_ref'), ['applicant_ref'], unique=False)

    op.create_table('number_sequences',
    sa.Column('agency', sa.String(length=32), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('agency', 'year', name=op.f('pk_number_sequences'))
    )
    op.create_table('postal_orders',
    sa.Column('tracking_code', sa.String(length=32), nullable=False),
    sa.Column('result_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('tracking_code', name=op.f('pk_postal_orders')),
    sa.UniqueConstraint('result_id', name=op.f('uq_postal_orders_result_id'))
    )
    op.create_table('results',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('dossier_id', sa.String(length=36), nullable=True),
    sa.Column('dossier_code', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('procedure_code', sa.String(length=32), nullable=True),
    sa.Column('template', sa.String(length=64), nullable=True),
    sa.Column('document_number', sa.String(length=64), nullable=False),
    sa.Column('issuing_agency', sa.String(length=32), nullable=False),
    sa.Column('applicant_ref', sa.String(length=64), nullable=True),
    sa.Column('holder_name_masked', sa.String(length=255), nullable=True),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('issued_at', UTCDateTime(), nullable=False),
    sa.Column('returned_at', UTCDateTime(), nullable=True),
    sa.Column('return_channel', sa.String(length=8), nullable=True),
    sa.Column('return_detail', sa.JSON(), nullable=True),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_results')),
    sa.UniqueConstraint('document_number', name=op.f('uq_results_document_number')),
    sa.UniqueConstraint('dossier_id', 'kind', name='uq_results_dossier_kind')
    )
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_results_applicant_ref'), ['applicant_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_results_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index('ix_results_ref_procedure', ['applicant_ref', 'procedure_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_results_sha256'), ['sha256'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_results_sha256'))
        batch_op.drop_index('ix_results_ref_procedure')
        batch_op.drop_index(batch_op.f('ix_results_dossier_id'))
        batch_op.drop_index(batch_op.f('ix_results_applicant_ref'))

    op.drop_table('results')
    op.drop_table('postal_orders')
    op.drop_table('number_sequences')
    with op.batch_alter_table('exchange_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_audit_applicant_ref'))

    op.drop_table('exchange_audit')
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossiers_applicant_ref'))

    op.drop_table('dossiers')
