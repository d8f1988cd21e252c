"""Channels: everything that knows a provider. One module per provider.

A channel turns a provider's request into an `InboundMessage` and the bot's replies
into what the provider expects (TwiML, a REST call, lines on a terminal). Providers:
`twilio` (SMS and WhatsApp), `smsgate` (SMS through an Android phone with a local SIM),
`console` (the terminal chat).
"""

from bot.channels.base import InboundMessage, OutboundReply

__all__ = ["InboundMessage", "OutboundReply"]
