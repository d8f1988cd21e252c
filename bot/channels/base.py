"""Provider-neutral message shapes shared by every channel."""

from __future__ import annotations

import re
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


#: Characters no database text column takes: NUL (PostgreSQL refuses it in text and JSON) and
#: lone UTF-16 surrogates (not encodable as UTF-8, so SQLite's and psycopg's encoders fail).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """`value` with every string made storable: NUL removed, each lone surrogate replaced by
    U+FFFD (the Unicode replacement character), in nested dicts and lists too.

    A provider may send such characters (a JSON body may escape a lone surrogate as
    ``\\ud800``; a form may carry ``%00``); refusing them would lose the message and storing
    them fails, so the text is kept with the usual replacement. Other values are returned as
    they are. Well-formed surrogate pairs never reach here: JSON decoding joins them.
    """
    if isinstance(value, str):
        if not _UNSTORABLE.search(value):
            return value
        return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value
