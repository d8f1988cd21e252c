"""The console channel: the terminal chat (`essbot chat`).

(The staff simulator, bot/simulator.py, goes one step further: it builds Twilio's webhook
form and reads it with bot.channels.twilio.parse_inbound.)

It builds the same InboundMessage as Twilio would, so the conversation code path
(storage, deduplication, locking, engine, rendering) is exactly the production one.
"""

from __future__ import annotations

import uuid

from bot.channels.base import InboundMessage
from bot.models import utcnow
from bot.phones import to_e164


def inbound(phone: str, text: str, channel: str = "sms", country: str = "ML") -> InboundMessage:
    """Return an InboundMessage from `phone` saying `text` on `channel` ("sms" or "whatsapp").

    The message gets a unique provider id prefixed ``CO`` (never a Twilio sid).
    Raises bot.phones.InvalidPhone when `phone` is not a phone number.
    """
    return InboundMessage(
        channel=channel, address=to_e164(phone, country), text=text,
        provider_sid="CO" + uuid.uuid4().hex, received_at=utcnow(),
    )
