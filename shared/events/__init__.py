"""The wire contract: CloudEvents envelope, typed payloads and the topic registry."""

from shared.events.envelope import CONTENT_TYPE, CloudEvent, EnvelopeError, new_event_id
from shared.events.payloads import PAYLOAD_TYPES, EventPayload
from shared.events.topics import ALL_TOPICS, TopicSpec

__all__ = [
    "ALL_TOPICS",
    "CONTENT_TYPE",
    "PAYLOAD_TYPES",
    "CloudEvent",
    "EnvelopeError",
    "EventPayload",
    "TopicSpec",
    "new_event_id",
]
