"""Notifications' tables: what it knows of each dossier to reach its applicant (contact data
sealed at rest), every message with its delivery state, webhook subscriptions of desk systems
with their deliveries and attempt log, and the national portal sync queue."""
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
    Column("receiving_agency", String(32), nullable=False),
    Column("competent_agency", String(32), nullable=True),
    Column("applicant_kind", String(16), nullable=True),
    Column("contact", LargeBinary, nullable=True),      # sealed ApplicantContact (name, phone, e-mail, choices)
    Column("submitted_at", utc_datetime(), nullable=False),
)

messages = Table(
    "messages", metadata,
    Column("id", String(36), primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("dossier_id", String(36), nullable=False, index=True),
    Column("audience", String(16), nullable=False),
    Column("recipient_key", String(64), nullable=False),     # keyed hash of the address: dedup without the address
    Column("recipient_masked", String(255), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("template_id", String(64), nullable=False),
    Column("template_version", String(16), nullable=False),
    Column("sealed", LargeBinary, nullable=False),            # address, subject, body
    Column("state", String(24), nullable=False),
    Column("version", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", utc_datetime(), nullable=True),
    Column("provider", String(32), nullable=True),
    Column("provider_message_id", String(128), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", utc_datetime(), nullable=False),
    Column("updated_at", utc_datetime(), nullable=False),
    Column("sent_at", utc_datetime(), nullable=True),
    Column("final_at", utc_datetime(), nullable=True),
    UniqueConstraint("event_id", "recipient_key", "channel", name="uq_messages_once"),
)
Index("ix_messages_state_next", messages.c.state, messages.c.next_attempt_at)
Index("ix_messages_provider_ref", messages.c.provider, messages.c.provider_message_id)

subscriptions = Table(
    "subscriptions", metadata,
    Column("id", String(36), primary_key=True),
    Column("agency", String(32), nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("event_types", JSON, nullable=False),              # ["*"] or type names
    Column("secrets", LargeBinary, nullable=False),           # sealed [{secret, created_at, retire_at}]
    Column("active", Boolean, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", utc_datetime(), nullable=False),
    Column("updated_at", utc_datetime(), nullable=False),
    Column("version", Integer, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", String(36), primary_key=True),
    Column("subscription_id", String(36), nullable=False, index=True),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("dossier_id", String(36), nullable=False),
    Column("body", Text, nullable=False),                     # the CloudEvent (structured JSON); no personal data
    Column("state", String(16), nullable=False),              # pending | sending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", utc_datetime(), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", utc_datetime(), nullable=False),
    Column("delivered_at", utc_datetime(), nullable=True),
    UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_once"),
)
Index("ix_webhook_deliveries_state_next", webhook_deliveries.c.state, webhook_deliveries.c.next_attempt_at)

webhook_attempts = Table(
    "webhook_attempts", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), nullable=False, index=True),
    Column("at", utc_datetime(), nullable=False),
    Column("status", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
)

portal_sync = Table(
    "portal_sync", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),   # per dossier, the order to send in
    Column("dossier_id", String(36), nullable=False),
    Column("dossier_code", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),                  # dossier | history
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),                 # pending | sent
    Column("generation", Integer, nullable=False, default=0),    # bumped by a re-sync (new idempotency key)
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", utc_datetime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", utc_datetime(), nullable=False),
    Column("sent_at", utc_datetime(), nullable=True),
    UniqueConstraint("event_id", "kind", name="uq_portal_sync_once"),
)
Index("ix_portal_sync_dossier", portal_sync.c.dossier_id, portal_sync.c.id)
Index("ix_portal_sync_state", portal_sync.c.state, portal_sync.c.next_attempt_at)
Index("ix_portal_sync_created", portal_sync.c.created_at)
