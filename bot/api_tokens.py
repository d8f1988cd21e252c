"""Tokens of the partner API (issue 21): create, find, list, revoke.

A token is ``essbot_`` followed by 32 random bytes in URL-safe base64 (``secrets.token_urlsafe``,
256 bits: no guessing, no throttle needed against it). Only its SHA-256 digest is stored
(``api_token.token_hash``): a high-entropy random token needs no slow password hash, and the
digest lets one indexed lookup find it. The token is returned once, by :func:`create_token`,
for the CLI or the staff page to show.

Shared by the CLI (``essbot api-token …``), the staff page (``/admin/api``) and the API itself
(bot/api), so it lives below all three.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bot.db import get_engine, transaction
from bot.models import utcnow
from bot.models.api import API_SCOPES, ApiToken

#: The start of every token: recognisable in a leaked file or log (secret scanners).
TOKEN_PREFIX = "essbot_"


class TokenError(ValueError):
    """A token that cannot be created; the message (French) says why."""


def digest(token: str) -> str:
    """The stored form of `token`: its SHA-256 as 64 hex digits."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(app: Flask, name: str, scope: str = "read", personal_data: bool = False,
                 created_by: str | None = None) -> tuple[int, str]:
    """Create a token for `name` (the partner, 1–120 characters) with `scope` ("read" or
    "write") and the `personal_data` right; return ``(id, token)`` — the only time the token
    is known. Raises TokenError (French) on an empty name or an unknown scope."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise TokenError("le nom doit avoir de 1 à 120 caractères")
    if scope not in API_SCOPES:
        raise TokenError(f"portée inconnue « {scope} » ; portées : {', '.join(API_SCOPES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    t = ApiToken.__table__
    with transaction(app) as conn:
        token_id = conn.execute(sa.insert(t).values(
            name=name, token_hash=digest(token), prefix=token[:12], scope=scope,
            personal_data=bool(personal_data), created_by=created_by, created_at=utcnow())
            .returning(t.c.id)).scalar_one()
    return int(token_id), token


def find_token(app: Flask, token: str, now: datetime | None = None) -> Any | None:
    """The active token row (id, name, scope, personal_data…) for the presented `token`, or
    None when it is unknown or revoked. Marks it used at `now` (at most once a minute, so a
    busy partner does not write on every call)."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    t = ApiToken.__table__
    with get_engine(app).connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.token_hash == digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        with transaction(app) as conn:
            conn.execute(sa.update(t).where(t.c.id == row.id).values(last_used_at=now))
    return row


def list_tokens(app: Flask) -> list[Any]:
    """Every token row (never the token: name, prefix, scope, rights, dates), newest first."""
    t = ApiToken.__table__
    with get_engine(app).connect() as conn:
        return list(conn.execute(sa.select(t.c.id, t.c.name, t.c.prefix, t.c.scope,
                                           t.c.personal_data, t.c.created_by, t.c.created_at,
                                           t.c.last_used_at, t.c.revoked_at)
                                 .order_by(t.c.id.desc())))


def revoke_token(app: Flask, token_id: int, now: datetime | None = None) -> bool:
    """Revoke token `token_id` at `now`: every later call with it gets 401. Returns whether
    an active token was revoked (False: unknown or already revoked)."""
    t = ApiToken.__table__
    with transaction(app) as conn:
        return bool(conn.execute(sa.update(t).where(t.c.id == token_id,
                                                    t.c.revoked_at.is_(None))
                                 .values(revoked_at=now or utcnow())).rowcount)
