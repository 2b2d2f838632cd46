"""Results' tables: what results knows of each dossier (holder, channel, agency, decision,
payment), the electronic results themselves (one per dossier and kind), document-number series
per issuing agency and year, postal orders, and the append-only log of other agencies' reuse."""
from sqlalchemy import JSON, Boolean, Column, Index, Integer, LargeBinary, String, Table, Text, UniqueConstraint

from shared.db import BigId, add_backbone_tables, new_metadata, utc_datetime

metadata = new_metadata()
backbone = add_backbone_tables(metadata)

dossiers = Table(
    "dossiers", metadata,
    Column("dossier_id", String(36), primary_key=True),
    Column("dossier_code", String(64), nullable=False),
    Column("procedure_code", String(32), nullable=False),
    Column("procedure_name", String(500), nullable=True),
    Column("channel", String(8), nullable=False),
    Column("holder", LargeBinary, nullable=True),            # sealed: name, kind, contact
    Column("applicant_ref", String(64), nullable=True, index=True),   # keyed hash of the ID number
    Column("competent_agency", String(32), nullable=True),
    Column("competent_agency_name", String(255), nullable=True),
    Column("payment_timing", String(24), nullable=True),
    Column("paid", Boolean, nullable=False, default=False),
    Column("decision", JSON, nullable=True),                  # waiting for the fee: what to issue once paid
)

results = Table(
    "results", metadata,
    Column("id", String(36), primary_key=True),
    Column("dossier_id", String(36), nullable=True, index=True),    # none for digitised paper results
    Column("dossier_code", String(64), nullable=True),
    Column("kind", String(16), nullable=False),                # approval | refusal | digitised
    Column("procedure_code", String(32), nullable=True),
    Column("template", String(64), nullable=True),
    Column("document_number", String(64), nullable=False, unique=True),
    Column("issuing_agency", String(32), nullable=False),
    Column("applicant_ref", String(64), nullable=True, index=True),
    Column("holder_name_masked", String(255), nullable=True),
    Column("storage_key", String(255), nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    Column("size", Integer, nullable=False),
    Column("state", String(16), nullable=False),               # issued | in_transit | returned | revoked
    Column("version", Integer, nullable=False),
    Column("issued_at", utc_datetime(), nullable=False),
    Column("returned_at", utc_datetime(), nullable=True),
    Column("return_channel", String(8), nullable=True),
    Column("return_detail", JSON, nullable=True),             # who collected (masked), tracking code...
    Column("revoked_at", utc_datetime(), nullable=True),
    Column("revocation_reason", Text, nullable=True),
    Column("metadata", JSON, nullable=True),                  # digitised: the original's number, date, issuer
    UniqueConstraint("dossier_id", "kind", name="uq_results_dossier_kind"),   # one document per decision
)
Index("ix_results_ref_procedure", results.c.applicant_ref, results.c.procedure_code)

number_sequences = Table(
    "number_sequences", metadata,
    Column("agency", String(32), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
)

postal_orders = Table(
    "postal_orders", metadata,
    Column("tracking_code", String(32), primary_key=True),
    Column("result_id", String(36), nullable=False, unique=True),
    Column("status", String(16), nullable=False),             # accepted | delivered | failed
    Column("created_at", utc_datetime(), nullable=False),
    Column("confirmed_at", utc_datetime(), nullable=True),
)

exchange_audit = Table(
    "exchange_audit", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),   # append-only: rows are never updated or deleted
    Column("at", utc_datetime(), nullable=False),
    Column("agency", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("applicant_ref", String(64), nullable=False, index=True),
    Column("procedure_code", String(32), nullable=True),
    Column("legal_basis", Text, nullable=False),
    Column("purpose", Text, nullable=True),
    Column("result_ids", JSON, nullable=False),
)
