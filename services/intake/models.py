"""Intake's tables: dossiers as submitted and received, their documents and history, dossier-code
counters, population-database lookups, and the read models (tracking timeline, KPI facts)."""
from sqlalchemy import (JSON, BigInteger, Boolean, Column, Date, ForeignKey, Index, Integer, LargeBinary, SmallInteger,
                        String, Table, Text, UniqueConstraint)

from shared.db import BigId, add_backbone_tables, new_metadata, utc_datetime

metadata = new_metadata()
backbone = add_backbone_tables(metadata)

# --- write model ---------------------------------------------------------------------------------
dossiers = Table(
    "dossiers", metadata,
    Column("id", String(36), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("procedure_code", String(32), nullable=False),
    Column("procedure_version", String(16), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("receiving_agency", String(32), nullable=False),
    Column("competent_agency", String(32), nullable=False),
    Column("applicant_kind", String(16), nullable=False),
    # Personal data (identifiers, contacts, address, form) is sealed (encrypted) at rest; the
    # clear columns hold only what lookups need: a masked name and a keyed hash of the phone tail.
    Column("applicant_name_masked", String(255), nullable=False),
    Column("second_factor_hash", String(64), nullable=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("status", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("submitted_at", utc_datetime(), nullable=False),
    Column("answer_due_at", utc_datetime(), nullable=True),     # online: answer within N working hours
    Column("answer_alerted_at", utc_datetime(), nullable=True),
    Column("accepted_at", utc_datetime(), nullable=True),
    Column("due_at", utc_datetime(), nullable=True),
    Column("clock_started_at", utc_datetime(), nullable=True),
    Column("supplement_requests", SmallInteger, nullable=False, default=0),
    Column("supplement_due_at", utc_datetime(), nullable=True),
    Column("missing_items", JSON, nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("fee_exemption_group", String(32), nullable=True),
    Column("fee_lines", JSON, nullable=True),
    Column("processing_supplement_open", Boolean, nullable=False, default=False),
    Column("result_issued", Boolean, nullable=False, default=False),
    Column("submitted_by", String(128), nullable=False),
    Column("updated_at", utc_datetime(), nullable=False),
)
Index("ix_dossiers_answer_due", dossiers.c.status, dossiers.c.answer_due_at)
Index("ix_dossiers_supplement_due", dossiers.c.status, dossiers.c.supplement_due_at)
Index("ix_dossiers_agency_status", dossiers.c.receiving_agency, dossiers.c.status)

dossier_documents = Table(
    "dossier_documents", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dossier_id", String(36), ForeignKey("dossiers.id"), nullable=False, index=True),
    Column("document_code", String(64), nullable=False),
    Column("stage", String(16), nullable=False),   # submission | supplement
    Column("upload_id", String(36), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(255), nullable=False),
    Column("attached_at", utc_datetime(), nullable=False),
)

uploads = Table(
    "uploads", metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(255), nullable=False),
    Column("created_at", utc_datetime(), nullable=False),
    Column("attached_to", String(36), nullable=True),
)

dossier_history = Table(  # append-only: rows are inserted, never updated or deleted
    "dossier_history", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dossier_id", String(36), ForeignKey("dossiers.id"), nullable=False, index=True),
    Column("at", utc_datetime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_status", String(32), nullable=True),
    Column("to_status", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("note", Text, nullable=True),
)

code_sequences = Table(  # one counter per receiving agency and day: codes never repeat
    "code_sequences", metadata,
    Column("agency", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)

population_lookups = Table(  # every prefill from the population database: who, when, why
    "population_lookups", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("subject_hash", String(64), nullable=False, index=True),  # keyed hash of the ID number
    Column("subject_masked", String(16), nullable=False),
    Column("requested_by", String(128), nullable=False),
    Column("agency", String(32), nullable=False),
    Column("purpose", String(255), nullable=False),
    Column("procedure_code", String(32), nullable=True),
    Column("outcome", String(16), nullable=False),   # found | not_found | unavailable
    Column("at", utc_datetime(), nullable=False),
)

tracking_failures = Table(  # wrong second factors per dossier code, shared by every replica
    "tracking_failures", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False),
    Column("at", utc_datetime(), nullable=False),
)
Index("ix_tracking_failures_code_at", tracking_failures.c.code, tracking_failures.c.at)

# --- read models (projections of lifecycle events) -----------------------------------------------
tracking_entries = Table(
    "tracking_entries", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dossier_id", String(36), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("occurred_at", utc_datetime(), nullable=False),
    Column("national_status", SmallInteger, nullable=True),
    Column("source", String(32), nullable=False),
    Column("details", JSON, nullable=False),
    UniqueConstraint("dossier_id", "event_id", name="uq_tracking_entries_dossier_event"),
)

tracking_status = Table(  # the dossier's current national status, as the events tell it
    "tracking_status", metadata,
    Column("dossier_id", String(36), primary_key=True),
    Column("national_status", SmallInteger, nullable=True),
    Column("status_at", utc_datetime(), nullable=True),
    Column("due_at", utc_datetime(), nullable=True),
)

kpi_facts = Table(  # one row per dossier: the facts the province's indicators are computed from
    "kpi_facts", metadata,
    Column("dossier_id", String(36), primary_key=True),
    Column("agency", String(32), nullable=True),
    Column("procedure_code", String(32), nullable=True),
    Column("channel", String(8), nullable=True),
    Column("online_enabled", Boolean, nullable=True),
    Column("fee_bearing", Boolean, nullable=True),
    Column("submitted_at", utc_datetime(), nullable=True),
    Column("accepted_at", utc_datetime(), nullable=True),
    Column("refused_at_reception", Boolean, nullable=False, default=False),
    Column("supplement_at_reception", Boolean, nullable=False, default=False),
    Column("digitised_input", Boolean, nullable=False, default=False),
    Column("paid_online", Boolean, nullable=False, default=False),
    Column("due_at", utc_datetime(), nullable=True),
    Column("extended_due_at", utc_datetime(), nullable=True),
    Column("finished_at", utc_datetime(), nullable=True),
    Column("finish_status", SmallInteger, nullable=True),
    Column("electronic_result", Boolean, nullable=False, default=False),
    Column("rating", SmallInteger, nullable=True),
    Column("rating_comment", Text, nullable=True),
    Column("rated_at", utc_datetime(), nullable=True),
)
Index("ix_kpi_facts_agency_procedure", kpi_facts.c.agency, kpi_facts.c.procedure_code)
