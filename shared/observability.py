"""Structured JSON logs with correlation and dossier ids, and Prometheus metrics.

Citizen identifiers never reach a log line: a processor masks anything shaped like a CCCD
number (12 digits), an old CMND (9 digits) or a Vietnamese phone number, wherever it appears."""
from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
dossier_id_var: ContextVar[str | None] = ContextVar("dossier_id", default=None)

# 12-digit CCCD / 9-digit CMND, and phone numbers (+84 / 0 followed by 9 digits), not inside longer numbers.
_PERSONAL_NUMBER = re.compile(r"(?<![\d])(?:\+?84|0)?\d{9}(?:\d{3})?(?![\d])")


def mask_personal_numbers(text: str) -> str:
    return _PERSONAL_NUMBER.sub(lambda m: "*" * (len(m.group()) - 3) + m.group()[-3:], text)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return mask_personal_numbers(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    return value


def _redact_processor(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: _redact(v) for k, v in event_dict.items()}


def _context_processor(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    if (cid := correlation_id_var.get()) and "correlation_id" not in event_dict:
        event_dict["correlation_id"] = cid
    if (did := dossier_id_var.get()) and "dossier_id" not in event_dict:
        event_dict["dossier_id"] = did
    return event_dict


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written (not when logging was configured), so a
    replaced stream (a test's capture, a daemon's redirect) never leaves loggers writing to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _context_processor,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


# One registry for the process; the `service` label separates the five in the embedded runner.
HTTP_REQUESTS = Counter("onestop_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("onestop_http_request_seconds", "HTTP request latency", ["service", "method", "route"])
OUTBOX_PUBLISHED = Counter("onestop_outbox_published_total", "Outbox rows published to the bus", ["service"])
OUTBOX_BACKLOG = Gauge("onestop_outbox_backlog", "Outbox rows not yet published, as of the last relay pass", ["service"])
EVENTS_CONSUMED = Counter("onestop_events_consumed_total", "Events handled by a consumer", ["service", "type", "outcome"])
EVENTS_DEAD_LETTERED = Counter("onestop_events_dead_lettered_total", "Events sent to a dead-letter topic", ["group"])
