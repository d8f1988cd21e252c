"""Tokens, scopes, the throttle and the audit line of every API call.

The checks run in the blueprint's ``before_request`` (so no route can forget them), the audit
line in an ``after_request`` of the app for every path under ``/api/`` (errors included). The
throttle counts the token's ``api`` lines of the audit log in each window of
``ESSBOT_API_RATE`` (sliding windows, as the staff login's throttle, bot/admin/auth.py): the
database is shared by every web process, so the count is the same whichever answers, without
Redis (Flask-Limiter's storages are memory, Redis, Memcached, MongoDB or etcd — none SQL).
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Callable

import sqlalchemy as sa
from flask import current_app, g, request
from limits import parse_many
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized

from bot.api import bp
from bot.api_tokens import find_token
from bot.audit import record_audit
from bot.db import get_engine
from bot.models import utcnow
from bot.models.api import API_SCOPES
from bot.models.staff import AuditEvent

log = logging.getLogger(__name__)

#: Endpoints answered without a token (the description of the API).
PUBLIC_ENDPOINTS = frozenset({"api.openapi"})

#: Audit actions: a call counted by the throttle, and one refused by it (not counted, so a
#: client hammering while throttled does not push its own window forward).
CALL, THROTTLED = "api", "api_throttled"


def require_scope(scope: str) -> Callable:
    """Decorator: the route needs a token of at least `scope` ("read" or "write"; every
    route needs "read" by default). Checked in :func:`_guard`. Raises ValueError for an
    unknown scope at import time."""
    if scope not in API_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorate(view: Callable) -> Callable:
        view._essbot_scope = scope
        return view

    return decorate


def _presented_token() -> str | None:
    """The token of ``Authorization: Token <token>`` (scheme case-insensitive), or None."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.strip().partition(" ")
    if scheme.lower() != "token" or not value.strip():
        return None
    return value.strip()


def retry_after(token_id: int, now=None) -> int | None:
    """Seconds before token `token_id` may call again, or None when it may call now: some
    window of ESSBOT_API_RATE already holds its number of calls."""
    text = current_app.config.get("ESSBOT_API_RATE") or ""
    if not text:
        return None
    now = now or utcnow()
    e = AuditEvent.__table__
    wait = 0
    with get_engine(current_app).connect() as conn:
        for item in parse_many(text):
            amount, seconds = item.amount, item.get_expiry()
            since = now - timedelta(seconds=seconds)
            times = conn.execute(sa.select(e.c.at).where(
                e.c.target == f"api_token:{token_id}", e.c.at > since, e.c.action == CALL)
                .order_by(e.c.at.desc()).limit(amount)).scalars().all()
            if len(times) >= amount:
                # Free again when the oldest of the last `amount` calls leaves the window.
                wait = max(wait, math.ceil((times[-1] - since).total_seconds()))
    return max(wait, 1) if wait else None


@bp.before_request
def _guard():
    """Token first (401), then the throttle (429), then the route's scope (403)."""
    g.api_action = CALL
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    token = _presented_token()
    row = find_token(current_app, token) if token else None
    if row is None:
        raise Unauthorized("a valid token is required: Authorization: Token <token>"
                           if token is None else "unknown or revoked token")
    g.api_token = row
    wait = retry_after(row.id)
    if wait is not None:
        g.api_action = THROTTLED
        raise TooManyRequests(f"too many calls for this token; retry in {wait} s",
                              retry_after=wait)
    view = current_app.view_functions.get(request.endpoint or "")
    needed = getattr(view, "_essbot_scope", "read")
    if API_SCOPES.index(row.scope) < API_SCOPES.index(needed):
        raise Forbidden(f"this route needs a token of scope '{needed}'")
    return None


@bp.after_app_request
def _audit(response):
    """One audit line per call under /api/ (answered or refused): the token, method, path,
    status and the names of the query parameters."""
    if not request.path.startswith("/api/"):
        return response
    row = g.get("api_token")
    action = "api_denied" if response.status_code == 401 else g.get("api_action", CALL)
    try:
        _record(action, row, response.status_code)
    except DBAPIError:
        # The database is away (the call itself answered 503): one log line, the answer kept.
        log.error("API call not audited: database unavailable")
    return response


def _record(action: str, row, status: int) -> None:
    """Write the audit line of this call: `action`, the token `row` (or None), `status`."""
    record_audit(current_app, action,
                 f"api_token:{row.id}" if row is not None else None, staff_id=None,
                 staff_email=f"api:{row.name}"[:200] if row is not None else None,
                 ip=request.remote_addr,
                 detail={"method": request.method, "path": request.path[:200],
                         "status": status, "params": sorted(request.args.keys())[:20]})
