"""How a service's use cases make their events: the service is the source, the request's (or the
consumed event's) correlation id carries over, the causing event is recorded."""
from __future__ import annotations

import uuid

from shared.events.catalogue import EventData, make_event
from shared.events.envelope import Envelope
from shared.observability import correlation_id_var


class Emitter:
    def __init__(self, service: str) -> None:
        self.service = service

    def __call__(self, data: EventData, causation: Envelope | None = None) -> Envelope:
        return make_event(data, source_service=self.service, causation=causation,
                          correlation_id=correlation_id_var.get() or str(uuid.uuid4()))
