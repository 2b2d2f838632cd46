"""Event type -> handler: what notifications does with each lifecycle event it consumes."""
from shared.inbox import EventHandler
from shared.probe import record_probe

HANDLERS: dict[str, EventHandler] = {
    "backbone.probe.v1": record_probe,
}
