from shared.events.catalogue import CATALOGUE, EventData, EventType, NationalStatus, make_event, national_status, parse_data
from shared.events.envelope import Envelope, MalformedEvent

__all__ = ["CATALOGUE", "Envelope", "EventData", "EventType", "MalformedEvent", "NationalStatus",
           "make_event", "national_status", "parse_data"]
