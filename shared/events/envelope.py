"""The CloudEvents 1.0 envelope every event travels in, and its Kafka binary-mode encoding.

Binary mode: attributes go to `ce_*` headers, the JSON data is the record value, the record key is
the subject (the dossier id), so one dossier's events stay in one partition, in order."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
_HEADER_PREFIX = "ce_"
# Envelope attributes carried as headers; `data` is the value, `datacontenttype` is `content-type`.
_ATTRIBUTES = ("specversion", "id", "source", "type", "subject", "time", "dataschema",
               "correlationid", "causationid", "traceparent")


class MalformedEvent(ValueError):
    """A record that cannot be read as an event: it can never succeed, so it goes to the DLQ."""


def new_event_id() -> str:
    return str(uuid.uuid4())


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: str = SPEC_VERSION
    id: str = Field(default_factory=new_event_id, min_length=1)
    source: str = Field(min_length=1, examples=["/onestop/intake"])
    type: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)+\.v\d+$", examples=["dossier.accepted.v1"])
    subject: str = Field(min_length=1, description="The dossier id: the Kafka key and the ordering unit")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = CONTENT_TYPE
    dataschema: str | None = None
    correlationid: str = Field(min_length=1)
    causationid: str | None = None
    traceparent: str | None = None
    data: dict[str, Any]

    def caused(self, *, type: str, source: str, data: dict[str, Any], subject: str | None = None) -> "Envelope":
        """A new event caused by this one: same correlation, causation = this event."""
        return Envelope(type=type, source=source, data=data, subject=subject or self.subject,
                        correlationid=self.correlationid, causationid=self.id, traceparent=self.traceparent)

    # --- Kafka binary mode -------------------------------------------------------------------
    def to_headers(self) -> list[tuple[str, bytes]]:
        headers = [("content-type", self.datacontenttype.encode())]
        for name in _ATTRIBUTES:
            value = getattr(self, name)
            if value is None:
                continue
            text = value.isoformat() if isinstance(value, datetime) else str(value)
            headers.append((_HEADER_PREFIX + name, text.encode()))
        return headers

    def value_bytes(self) -> bytes:
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":"), default=str).encode()

    @classmethod
    def from_record(cls, headers: list[tuple[str, bytes]] | tuple, value: bytes | None) -> "Envelope":
        try:
            attrs: dict[str, Any] = {}
            for name, raw in headers or ():
                if name.startswith(_HEADER_PREFIX) and name[len(_HEADER_PREFIX):] in _ATTRIBUTES:
                    attrs[name[len(_HEADER_PREFIX):]] = raw.decode()
                elif name == "content-type":
                    attrs["datacontenttype"] = raw.decode()
            data = json.loads(value or b"null")
            if not isinstance(data, dict):
                raise MalformedEvent("event data must be a JSON object")
            return cls(**attrs, data=data)
        except MalformedEvent:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoding failure makes the record unreadable
            raise MalformedEvent(f"unreadable event: {exc}") from exc
