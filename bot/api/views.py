"""The routes of ``/api/v1/``: actors, statistics, announcements, the OpenAPI description.

Each route reuses the code the staff pages use, so the API follows the same rules: the
registry's filters and their checks (bot.registry.query), the dashboard's anonymous counts
(bot.stats), the broadcast planner and queue for announcements (who receives an announcement,
consent and opt-outs included, is decided there and nowhere else), the staff list's phone
masking (bot.phones.mask).

**Incremental sync.** ``GET /actors`` is ordered by ``(updated_at, id)`` and paged with an
opaque cursor holding the last pair returned; ``modified_after`` starts a sync from a time.
``updated_at`` is stamped when a transaction writes the row, but the row becomes visible only
when the transaction commits, a moment later: a consumer that had already read past that stamp
would never see the row. So rows newer than ``now - ESSBOT_API_SYNC_LAG`` are held back until
the lag has passed (the lag is longer than any registry transaction takes to commit): every
committed change is returned exactly once, in stamp order, to a consumer that follows the
cursors. Erasures (a deletion request) are the exception: their times are cut to the month on
purpose (bot.registry.forget), so a sync learns of them from ``status=deleted`` (docs/api.md).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, jsonify, request
from werkzeug.exceptions import BadRequest, Forbidden, NotFound

from bot import stats
from bot.api import bp, error_response
from bot.api.auth import require_scope
from bot.api.openapi import spec
from bot.broadcasts import planner
from bot.broadcasts.errors import BroadcastError, SegmentError
from bot.broadcasts.models import Broadcast, InvalidTransition, Outbox, OutboxState
from bot.broadcasts.tasks import get_queue
from bot.db import get_engine
from bot.models import Actor, utcnow
from bot.phones import mask
from bot.registry.query import RegistryFilter, conditions

#: Rows per page: default and most a client may ask for.
DEFAULT_LIMIT, MAX_LIMIT = 100, 500

#: Fields every token reads (anonymous: what the dashboard counts, per entry).
ANONYMOUS_FIELDS = ("id", "kind", "gender", "birth_band", "quartier", "sector", "legal_form",
                    "members_count", "formalised", "needs", "language", "channel",
                    "completeness", "registered_at", "created_at", "updated_at", "deleted_at")
#: Fields only tokens with the personal-data right read. The phone is masked as in the staff
#: list (bot/admin/registry.py: a list of numbers serves no task); the social-protection answer
#: (possible health data) is never sent.
PERSONAL_FIELDS = ("registration_code", "name", "org_name", "contact_name", "trade",
                   "birth_year", "quartier_text", "phone")


def _iso(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _limit() -> int:
    raw = request.args.get("limit", "")
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 time, e.g. 2026-12-01T08:00:00Z") \
            from None
    if value.tzinfo is None:
        raise BadRequest(f"{name} must carry its time zone (Z or +00:00)")
    return value


def encode_cursor(*values: Any) -> str:
    """An opaque cursor for `values` (JSON-able; datetimes as ISO text)."""
    raw = json.dumps([_iso(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, n: int) -> list[Any]:
    """The `n` values of cursor `text`; BadRequest when it was not made by encode_cursor."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequest("cursor is not valid: pass back next_cursor as given") from None
    if not isinstance(values, list) or len(values) != n:
        raise BadRequest("cursor is not valid: pass back next_cursor as given")
    return values


def actor_json(row: Any, personal: bool) -> dict[str, Any]:
    """One registry entry as JSON: ANONYMOUS_FIELDS, plus PERSONAL_FIELDS (phone masked) when
    `personal`; times as ISO 8601 UTC."""
    out = {name: _iso(row[name]) for name in ANONYMOUS_FIELDS}
    out["registered"] = row["registered_at"] is not None
    out["deleted"] = row["deleted_at"] is not None
    if personal:
        out.update({name: row[name] for name in PERSONAL_FIELDS})
        out["phone"] = mask(row["phone"]) if row["phone"] else None
    return out


# --- actors -------------------------------------------------------------------------------

@bp.get("/actors")
def actors():
    """Registry entries matching the registry's filters, oldest change first, a page at a
    time (``cursor``), from ``modified_after`` on; held back ESSBOT_API_SYNC_LAG seconds (see
    the module docstring)."""
    token = g.api_token
    filt, errors = RegistryFilter.from_args(request.args)
    if errors:
        return error_response(400, "some filters cannot be read", "invalid_filter",
                              details=errors)
    if filt.q and not token.personal_data:
        raise Forbidden("searching by name or phone (q) needs a token allowed personal data")
    limit = _limit()
    settings = current_app.config
    now = utcnow()
    until = now - timedelta(seconds=float(settings["ESSBOT_API_SYNC_LAG"]))
    a = Actor.__table__
    where = conditions(filt, now, settings["ESSBOT_TIMEZONE"])
    where.append(a.c.updated_at <= until)
    cursor = request.args.get("cursor")
    after = _time_arg("modified_after")
    if cursor:
        stamp, last_id = decode_cursor(cursor, 2)
        try:
            stamp = datetime.fromisoformat(stamp)
            last_id = int(last_id)
        except (TypeError, ValueError):
            raise BadRequest("cursor is not valid: pass back next_cursor as given") from None
        where.append(sa.or_(a.c.updated_at > stamp,
                            sa.and_(a.c.updated_at == stamp, a.c.id > last_id)))
    elif after is not None:
        where.append(a.c.updated_at > after)
    columns = sorted(set(ANONYMOUS_FIELDS) | set(PERSONAL_FIELDS))
    with get_engine(current_app).connect() as conn:
        rows = conn.execute(sa.select(*[a.c[c] for c in columns]).where(*where)
                            .order_by(a.c.updated_at, a.c.id).limit(limit + 1)).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        next_cursor = encode_cursor(rows[-1]["updated_at"], rows[-1]["id"])
    elif cursor:
        next_cursor = cursor
    else:  # nothing yet: resume from where this read looked
        next_cursor = encode_cursor(after or datetime(1970, 1, 1, tzinfo=until.tzinfo), 0)
    return jsonify({"data": [actor_json(r, bool(token.personal_data)) for r in rows],
                    "next_cursor": next_cursor, "has_more": more,
                    "complete_until": until.isoformat(), "filters": filt.as_dict()})


@bp.get("/actors/<int:actor_id>")
def actor(actor_id: int):
    """One registry entry (test contacts of the simulator are not part of the registry)."""
    a = Actor.__table__
    filt = RegistryFilter(status="all")
    with get_engine(current_app).connect() as conn:
        row = conn.execute(sa.select(a).where(
            a.c.id == actor_id, *conditions(filt, utcnow(),
                                            current_app.config["ESSBOT_TIMEZONE"]))).mappings().first()
    if row is None:
        raise NotFound(f"no actor {actor_id}")
    return jsonify(actor_json(row, bool(g.api_token.personal_data)))


# --- statistics ---------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """Dataclasses, dates and containers of bot.stats as JSON-able values."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return _iso(value)


@bp.get("/stats")
def statistics():
    """The dashboard's anonymous numbers (bot.stats.compute) for ``period`` (``tout``,
    ``12m``, ``30j``; default ``tout``). Labels are the dashboard's French ones."""
    key = request.args.get("period") or stats.DEFAULT_PERIOD
    if key not in stats.PERIODS:
        raise BadRequest(f"period must be one of {', '.join(stats.PERIODS)}")
    with get_engine(current_app).connect() as conn:
        result = stats.compute(conn, stats.PERIODS[key], utcnow(),
                               timezone=current_app.config["ESSBOT_TIMEZONE"])
    return jsonify(_plain(result))


# --- announcements ------------------------------------------------------------------------

def _counts(conn: sa.Connection, ids: list[int]) -> dict[int, dict[str, int]]:
    o = Outbox.__table__
    out: dict[int, dict[str, int]] = {i: {s: 0 for s in OutboxState.ALL} for i in ids}
    if ids:
        for bid, state, n in conn.execute(sa.select(o.c.broadcast_id, o.c.state, sa.func.count())
                                          .where(o.c.broadcast_id.in_(ids))
                                          .group_by(o.c.broadcast_id, o.c.state)):
            out[bid][state] = int(n)
    return out


@bp.get("/announcements")
def announcements():
    """Announcements, newest first, a page at a time (``cursor``), each with its delivery
    counts (outbox rows by state)."""
    limit = _limit()
    b = Broadcast.__table__
    where = []
    cursor = request.args.get("cursor")
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int):
            raise BadRequest("cursor is not valid: pass back next_cursor as given")
        where.append(b.c.id < before)
    with get_engine(current_app).connect() as conn:
        rows = conn.execute(sa.select(b.c.id, b.c.title, b.c.state, b.c.segment,
                                      b.c.channel_policy, b.c.author, b.c.created_at,
                                      b.c.scheduled_at, b.c.started_at, b.c.finished_at)
                            .where(*where).order_by(b.c.id.desc()).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        counts = _counts(conn, [r.id for r in rows])
    data = [{**{k: _iso(v) for k, v in r._mapping.items()}, "delivery": counts[r.id]}
            for r in rows]
    return jsonify({"data": data, "has_more": more,
                    "next_cursor": encode_cursor(rows[-1].id) if more else None})


@bp.get("/announcements/<int:announcement_id>")
def announcement(announcement_id: int):
    """One announcement with its texts and its delivery report (bot.broadcasts.planner.status:
    by state, channel, provider status, errors, skipped by reason, parts, cost)."""
    app = current_app._get_current_object()
    try:
        report = planner.status(app, announcement_id)
        row = planner.get(app, announcement_id)
    except planner.BroadcastNotFound:
        raise NotFound(f"no announcement {announcement_id}") from None
    return jsonify({**_plain(report), "text_fr": row.text_fr, "text_bm": row.text_bm})


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object (Content-Type: application/json)")
    return body


@bp.post("/announcements")
@require_scope("write")
def create_announcement():
    """Create a draft announcement from ``{"title", "text_fr", "text_bm"?, "segment"?,
    "channel_policy"?}`` with the planner's checks; 201 with its preview (recipients by
    channel and language, parts, cost, skipped by reason)."""
    body = _json_body()
    fields = {}
    for name in ("title", "text_fr", "text_bm", "channel_policy"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name} must be a string")
        fields[name] = value
    segment = body.get("segment") or {}
    if not isinstance(segment, dict):
        raise BadRequest("segment must be an object, e.g. {\"quartier\": [\"Badialan I\"]}")
    app = current_app._get_current_object()
    try:
        announcement_id = planner.create(
            app, title=fields["title"] or "", text_fr=fields["text_fr"] or "",
            text_bm=fields["text_bm"], segment=segment,
            channel_policy=fields["channel_policy"] or "auto",
            author=f"api:{g.api_token.name}"[:120])
    except (BroadcastError, SegmentError) as exc:
        return error_response(400, str(exc), getattr(exc, "code", "invalid"))
    response = jsonify(_plain(planner.preview(app, announcement_id)))
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/announcements/{announcement_id}"
    return response


@bp.post("/announcements/<int:announcement_id>/send")
@require_scope("write")
def send_announcement(announcement_id: int):
    """Start sending a draft (the staff page's ``send_now``: outbox in one transaction, then
    the queue); 202 with the plan. 404 unknown, 409 already started or no sender configured."""
    app = current_app._get_current_object()
    try:
        plan = get_queue(app).send_now(announcement_id)
    except planner.BroadcastNotFound:
        raise NotFound(f"no announcement {announcement_id}") from None
    except InvalidTransition as exc:
        return error_response(409, str(exc), "state")
    except BroadcastError as exc:
        return error_response(409, str(exc), exc.code)
    response = jsonify(_plain(plan))
    response.status_code = 202
    return response


# --- description --------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API (public: it holds no data)."""
    return jsonify(spec())
