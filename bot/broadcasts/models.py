"""The broadcast tables, by their first name: they live in bot/models/broadcasts.py (every table
is in bot.models, so the models import nothing above them)."""

from bot.models.broadcasts import (CHANNEL_POLICIES, SKIP_REASONS, Broadcast,  # noqa: F401
                                   BroadcastState, InvalidTransition, Outbox, OutboxState,
                                   UndeliverableAddress)
