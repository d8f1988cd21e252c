"""Channels: everything that knows a provider. One module per provider.

A channel turns a provider's request into an `InboundMessage` and the bot's replies
into what the provider expects (TwiML, a REST call, lines on a terminal).
"""

from bot.channels.base import InboundMessage, OutboundReply

__all__ = ["InboundMessage", "OutboundReply"]
