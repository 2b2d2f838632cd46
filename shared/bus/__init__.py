from shared.bus.delivery import PoisonRecord
from shared.bus.ports import Bus, OutgoingRecord, Record, RetryPolicy, Subscription, SubscriptionSpec

__all__ = ["Bus", "OutgoingRecord", "PoisonRecord", "Record", "RetryPolicy", "Subscription", "SubscriptionSpec"]
