"""Payments' tables: bills (what a dossier owes, per stage), payment attempts with the platform
(at most one live per bill), every raw gateway message (audit), refunds, e-receipts with their
number series per collecting agency and year, the dossier facts refund rules need, and
reconciliation reports."""
from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint, text

from shared.db import BigId, add_backbone_tables, new_metadata, utc_datetime

metadata = new_metadata()
backbone = add_backbone_tables(metadata)

dossier_facts = Table(
    "dossier_facts", metadata,
    Column("dossier_id", String(36), primary_key=True),
    Column("dossier_code", String(64), nullable=False),
    Column("procedure_code", String(32), nullable=False),
    Column("payment_timing", String(24), nullable=False),
    Column("fee_lines", JSON, nullable=False),
    Column("accepted_at", utc_datetime(), nullable=False),
    Column("processing_started_at", utc_datetime(), nullable=True),
    Column("withdrawn_at", utc_datetime(), nullable=True),
    Column("decided_at", utc_datetime(), nullable=True),
    Column("outcome", String(16), nullable=True),
)

bills = Table(
    "bills", metadata,
    Column("id", String(36), primary_key=True),
    Column("dossier_id", String(36), nullable=False),
    Column("dossier_code", String(64), nullable=False),
    Column("stage", String(16), nullable=False),                 # acceptance | result
    Column("lines", JSON, nullable=False),
    Column("amount", BigInteger, nullable=False),                # VND, the sum of the lines
    Column("state", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", utc_datetime(), nullable=False),
    Column("expires_at", utc_datetime(), nullable=False),
    Column("paid_at", utc_datetime(), nullable=True),
    Column("method", String(16), nullable=True),
    Column("refunded_amount", BigInteger, nullable=False, default=0),
    Column("closed_at", utc_datetime(), nullable=True),
    UniqueConstraint("dossier_id", "stage", name="uq_bills_dossier_stage"),   # one bill per stage, replay-safe
)
Index("ix_bills_dossier", bills.c.dossier_id)
Index("ix_bills_state_expiry", bills.c.state, bills.c.expires_at)

attempts = Table(
    "attempts", metadata,
    Column("id", String(36), primary_key=True),
    Column("bill_id", String(36), nullable=False),
    Column("reference", String(96), nullable=False, unique=True),   # dossier code + timestamp, sent to the platform
    Column("amount", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("in_flight", String(16), nullable=True),                 # the gateway call under way (init, query...)
    Column("in_flight_since", utc_datetime(), nullable=True),
    Column("transaction_id", String(64), nullable=True),
    Column("payment_url", String(1000), nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("created_at", utc_datetime(), nullable=False),
    Column("updated_at", utc_datetime(), nullable=False),
    Column("settled_at", utc_datetime(), nullable=True),
)
Index("ix_attempts_bill", attempts.c.bill_id)
Index("ix_attempts_state_created", attempts.c.state, attempts.c.created_at)
# At most one live (created, pending or succeeded) attempt per bill: a second "pay" finds the first.
Index("uq_attempts_one_live_per_bill", attempts.c.bill_id, unique=True,
      postgresql_where=text("state IN ('created', 'pending', 'succeeded')"),
      sqlite_where=text("state IN ('created', 'pending', 'succeeded')"))

gateway_messages = Table(
    "gateway_messages", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", utc_datetime(), nullable=False),
    Column("direction", String(8), nullable=False),     # in | out
    Column("kind", String(24), nullable=False),         # INIT, QUERY, CONFIRM, REFUND, GET_BILL (+ _RESPONSE)
    Column("reference", String(96), nullable=True, index=True),
    Column("payload", JSON, nullable=False),
    Column("verdict", String(64), nullable=True),       # confirmations: accepted | rejected:<code>
)

refunds = Table(
    "refunds", metadata,
    Column("id", String(36), primary_key=True),
    Column("bill_id", String(36), nullable=False, index=True),
    Column("attempt_id", String(36), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(16), nullable=False),        # requested | succeeded | failed
    Column("in_flight", String(16), nullable=True),
    Column("requested_by", String(128), nullable=False),
    Column("created_at", utc_datetime(), nullable=False),
    Column("settled_at", utc_datetime(), nullable=True),
    Column("failure_reason", Text, nullable=True),
)

receipt_sequences = Table(
    "receipt_sequences", metadata,
    Column("agency", String(32), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
)

receipts = Table(
    "receipts", metadata,
    Column("id", String(36), primary_key=True),
    Column("bill_id", String(36), nullable=False, index=True),
    Column("dossier_id", String(36), nullable=False),
    Column("dossier_code", String(64), nullable=False),
    Column("agency", String(32), nullable=False),
    Column("kind", String(8), nullable=False),          # phi | le_phi
    Column("year", Integer, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("number", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("lines", JSON, nullable=False),
    Column("method", String(16), nullable=False),
    Column("transaction_id", String(64), nullable=True),
    Column("issued_at", utc_datetime(), nullable=False),
    UniqueConstraint("agency", "year", "sequence", name="uq_receipts_series"),
)

reconciliation_reports = Table(
    "reconciliation_reports", metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),         # early | daily | manual
    Column("started_at", utc_datetime(), nullable=False),
    Column("finished_at", utc_datetime(), nullable=True),
    Column("checked", Integer, nullable=False, default=0),
    Column("settled", Integer, nullable=False, default=0),
    Column("differences", JSON, nullable=False),
)
Index("ix_reconciliation_started", reconciliation_reports.c.started_at)
