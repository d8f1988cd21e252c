"""Provider-neutral message shapes shared by every channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class InboundMessage:
    """A message received from a person, whatever the provider.

    channel: "sms", "whatsapp" or "console"; address: the sender's phone in E.164;
    text: the body as sent (may be empty); kind: "text", "audio", "image", "video",
    "document", "location" or "media"; media: list of ``{"url", "content_type"}``;
    provider_sid: the provider's message id (Twilio MessageSid), the deduplication key;
    received_at: aware UTC datetime; attributes: provider extras worth keeping
    (WhatsApp ProfileName, button payload, coordinates).
    """

    channel: str
    address: str
    text: str
    provider_sid: str
    received_at: datetime
    kind: str = "text"
    media: list[dict[str, str]] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundReply:
    """A reply ready for a channel: the stored message `id`, the rendered `body`
    (at most 1,600 characters), its `channel`."""

    id: int
    body: str
    channel: str
