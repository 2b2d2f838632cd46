"""Routing's tables: workflow instances (one per accepted dossier, pinned to a workflow version),
the tasks of their steps, and the append-only history of everything done to them."""
from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, Text

from shared.db import BigId, add_backbone_tables, new_metadata, utc_datetime

metadata = new_metadata()
backbone = add_backbone_tables(metadata)

instances = Table(
    "instances", metadata,
    Column("dossier_id", String(36), primary_key=True),
    Column("dossier_code", String(64), nullable=False),
    Column("procedure_code", String(32), nullable=False),
    Column("procedure_version", String(16), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("receiving_agency", String(32), nullable=False),
    Column("competent_agency", String(32), nullable=False),
    Column("competent_agency_name", String(255), nullable=True),
    Column("workflow_id", String(64), nullable=False),
    Column("workflow_version", String(16), nullable=False),
    Column("result_template", String(64), nullable=True),
    Column("payment_timing", String(24), nullable=False),
    Column("clock_starts", String(16), nullable=False),
    Column("state", String(24), nullable=False),
    Column("version", Integer, nullable=False),       # bumped by every change: serialises a dossier's actions
    Column("accepted_at", utc_datetime(), nullable=False),
    Column("started_at", utc_datetime(), nullable=True),
    Column("due_at", utc_datetime(), nullable=True),            # the current due date (pauses, extension)
    Column("original_due_at", utc_datetime(), nullable=True),   # as fixed at acceptance / payment
    Column("paused_at", utc_datetime(), nullable=True),
    Column("paused_hours", Float, nullable=False, default=0.0),
    Column("extended_at", utc_datetime(), nullable=True),
    Column("extension", JSON, nullable=True),                   # reason, signer, dates: form 04
    Column("overdue_at", utc_datetime(), nullable=True),
    Column("decided_at", utc_datetime(), nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("decided_by_agency", String(32), nullable=True),
    Column("updated_at", utc_datetime(), nullable=False),
)
Index("ix_instances_state_due", instances.c.state, instances.c.due_at)

tasks = Table(
    "tasks", metadata,
    Column("id", String(36), primary_key=True),
    Column("dossier_id", String(36), nullable=False, index=True),
    Column("step", String(64), nullable=False),
    Column("step_name", String(255), nullable=False),
    Column("agency", String(32), nullable=False),
    Column("unit", String(255), nullable=True),
    Column("role", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("assignee", String(128), nullable=True),
    Column("consult_group", String(36), nullable=True),   # branches of one consultation share it
    Column("join_step", String(64), nullable=True),       # ... and open this step when all have answered
    Column("created_at", utc_datetime(), nullable=False),
    Column("due_at", utc_datetime(), nullable=True),
    Column("claimed_at", utc_datetime(), nullable=True),
    Column("completed_at", utc_datetime(), nullable=True),
    Column("completed_by", String(128), nullable=True),
    Column("action", String(32), nullable=True),
    Column("worked_hours", Float, nullable=True),         # working time from opening to completion
    Column("on_time", Integer, nullable=True),            # 1/0 once completed (SQL-friendly for the report)
    Column("due_soon_at", utc_datetime(), nullable=True),  # warning sent (once)
    Column("overdue_at", utc_datetime(), nullable=True),   # overdue event sent (once)
)
Index("ix_tasks_agency_state_due", tasks.c.agency, tasks.c.state, tasks.c.due_at)
Index("ix_tasks_state_due", tasks.c.state, tasks.c.due_at)
Index("ix_tasks_completed", tasks.c.completed_at)

history = Table(
    "history", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dossier_id", String(36), nullable=False, index=True),
    Column("at", utc_datetime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("actor_name", String(255), nullable=True),
    Column("agency", String(32), nullable=True),
    Column("action", String(32), nullable=False),
    Column("step", String(64), nullable=True),
    Column("task_id", String(36), nullable=True),
    Column("detail", JSON, nullable=True),               # targets, comment, attachments, reasons, dates
    Column("remaining_hours", Float, nullable=True),     # working hours left to the due date at that moment
)
