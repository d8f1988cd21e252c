"""Broadcast announcements (issue 7): segments, preview and cost, an outbox, reliable sending.

Flow (docs/architecture.md "Broadcasts run beside it"):

1. ``models``   — `Broadcast` (draft → scheduled → sending → sent / cancelled / failed, a small
   explicit state machine) and `Outbox` (one row per recipient, its own send lifecycle).
2. ``segments`` — filter definitions (quartier, sector, age band…) → SQL, with counts.
3. ``planner``  — preview (recipients by channel and language, text, parts, cost, skipped by
   reason) and, when sending starts, the outbox written in one transaction.
4. ``sender``   — sends one outbox row through the Twilio channel, reconciles unknown outcomes
   before any resend, applies status callbacks (`on_message_status`).
5. ``tasks``    — the huey queue (SQLite file by default, Redis with REDIS_URL), per-sender rate
   limit, retries, the periodic tick (scheduled broadcasts, recovery after a crash).
6. ``cli``      — ``essbot broadcast …`` and ``essbot worker``.

This package file imports nothing heavy. The tables are in bot/models/broadcasts.py (also
named `bot.broadcasts.models`): every table lives in bot.models.
"""
