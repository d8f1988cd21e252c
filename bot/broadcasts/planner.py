"""Plan a broadcast: create it, preview who gets what at which cost, write the outbox, cancel,
report progress.

Who is reached, and on which channel, is decided for each contact by ONE function,
`bot.broadcasts.reach.decide` (consent, STOP, demo and test phones, route, WhatsApp window,
numbers Twilio refused): the counter (`count`), the preview (`preview`, also DIFFUSER's and
the CLI's) and the outbox (`start`) all call it. Every contact of the segment is either a
recipient or counted under one reason of SKIP_REASONS; person-level reasons (test phone, demo
contact, STOP, no consent) are counted in the plan and never written to the outbox, the others
are outbox rows ``skipped`` with their reason.

Language: the contact's, else their registry entry's, else ESSBOT_DEFAULT_LANGUAGE; a
broadcast without Bambara text sends French to Bambara speakers (the preview warns).

Texts and costs come from bot/sms.py, the same functions the bot's replies use: `sms.render`
(GSM-7 folding when ESSBOT_SMS_FOLDING), `sms.analyze` (encoding, parts), `sms.estimate_cost`
(parts × ESSBOT_PRICE_PER_PART, in ESSBOT_CURRENCY — FCFA). Rendering depends only on
(language, channel, kind), so a preview renders at most six texts whatever the audience size,
and counts recipients with one GROUP BY query.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask

from bot.config import setting
from bot import events, sms
from bot.broadcasts import notices, reach, segments
from bot.channels import smsgate
from bot.broadcasts.errors import BroadcastError, BroadcastNotFound  # noqa: F401  (planner.*)
from bot.broadcasts.models import (CHANNEL_POLICIES, SKIP_REASONS, Broadcast, BroadcastState,
                                   InvalidTransition, Outbox, OutboxState)
from bot.db import get_engine, transaction
from bot.models import Contact, Message, utcnow

log = logging.getLogger(__name__)

#: Twilio's limit on one message body, in characters (docs/twilio.md "Outbound").
MAX_BODY_CHARS = 1600
#: Outbox rows inserted per statement when sending starts.
INSERT_BATCH = 5000

_SPACES = re.compile(r"\s+")


# --- texts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Texts:
    """What a broadcast says: ``title`` and the text in French and Bambara (``bm`` may be
    empty: French is then sent)."""

    title: str
    fr: str
    bm: str | None

    @classmethod
    def of(cls, broadcast: Any) -> "Texts":
        """From a Broadcast object or any row with ``title``, ``text_fr``, ``text_bm``."""
        return cls(broadcast.title, broadcast.text_fr, broadcast.text_bm)

    def text(self, language: str) -> str:
        """The text in `language`, French when there is no Bambara text."""
        return self.bm if language == "bm" and (self.bm or "").strip() else self.fr


@dataclass(frozen=True)
class Rendered:
    """One text as sent: ``body`` (for a template: the content variables as JSON), ``parts``
    (SMS parts; 1 per WhatsApp message), ``encoding`` ("GSM-7"/"UCS-2" on SMS, None on
    WhatsApp), ``characters`` (code points) and ``content_sid`` for templates."""

    channel: str
    kind: str
    language: str
    body: str
    parts: int
    encoding: str | None
    characters: int
    content_sid: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for previews."""
        out: dict[str, Any] = {"parts": self.parts, "characters": self.characters}
        if self.kind == "template":
            out["content_sid"] = self.content_sid
            out["variables"] = json.loads(self.body)
        else:
            out["body"] = self.body
            out["encoding"] = self.encoding
        return out


def templates(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Approved WhatsApp templates by language, from ESSBOT_WHATSAPP_TEMPLATES.

    The setting is JSON (or a dict): ``{"fr": {"content_sid": "HX…", "variables": {"1":
    "title", "2": "text"}}, "bm": …}``. Variable values ``title`` and ``text`` stand for the
    broadcast's title and text in the recipient's language; anything else is sent as written.
    Returns ``{}`` when unset. Raises BroadcastError when the JSON or a content_sid is malformed.
    """
    raw = settings.get("ESSBOT_WHATSAPP_TEMPLATES")
    if not raw:
        return {}
    try:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (ValueError, TypeError) as exc:
        raise BroadcastError(f"ESSBOT_WHATSAPP_TEMPLATES is not valid JSON: {exc}",
                             "templates") from None
    out = {}
    for language, spec in data.items():
        if not isinstance(spec, dict) or not str(spec.get("content_sid", "")).startswith("HX"):
            raise BroadcastError(f"ESSBOT_WHATSAPP_TEMPLATES[{language!r}] needs a content_sid "
                                 "starting with HX", "templates")
        variables = spec.get("variables") or {"1": "text"}
        if not isinstance(variables, dict):
            raise BroadcastError(f"ESSBOT_WHATSAPP_TEMPLATES[{language!r}].variables must be "
                                 "an object", "templates")
        out[str(language)] = {"content_sid": spec["content_sid"], "variables": variables}
    return out


def render(texts: Texts, language: str, channel: str, kind: str,
           settings: Mapping[str, Any]) -> Rendered:
    """Render the broadcast for one (language, channel, kind).

    SMS: `sms.render` (folded to GSM-7 when ESSBOT_SMS_FOLDING) and `sms.analyze` (encoding,
    parts). WhatsApp text: `sms.render` without folding, 1 message. WhatsApp template: the
    language's template (`templates`) with its variables filled in (whitespace collapsed:
    WhatsApp refuses new lines in template variables). Raises BroadcastError when a template
    is asked for a language that has none.
    """
    text = texts.text(language)
    if kind == "template":
        spec = templates(settings).get(language)
        if spec is None:
            raise BroadcastError(f"no WhatsApp template configured for {language!r}", "templates")
        fields = {"title": texts.title, "text": text}
        variables = {str(k): _SPACES.sub(" ", str(fields.get(v, v))).strip()
                     for k, v in spec["variables"].items()}
        body = json.dumps(variables, ensure_ascii=False, sort_keys=True)
        return Rendered("whatsapp", "template", language, body, 1, None, len(text),
                        spec["content_sid"])
    if channel == "sms":
        fold = bool(setting(settings, "ESSBOT_SMS_FOLDING"))
        body = sms.render(text, "sms", language, fold=fold)
        info = sms.analyze(body)
        return Rendered("sms", "text", language, body, info.segments, info.encoding,
                        info.characters)
    body = sms.render(text, "whatsapp", language)
    return Rendered("whatsapp", "text", language, body, 1, None, len(body))


# --- routing ---------------------------------------------------------------------------------
# Who can be reached and how is decided by bot.broadcasts.reach.decide alone; the planner
# reads the facts with reach.fact_columns and counts the decisions.

def _facts_query(settings: Mapping[str, Any], segment: Mapping[str, Any] | None,
                 now: datetime) -> tuple[list[Any], sa.FromClause, list[Any]]:
    """(fact columns, FROM clause, WHERE conditions) of a segment's contacts now."""
    default_language = settings["ESSBOT_DEFAULT_LANGUAGE"]
    columns, source = reach.fact_columns(now, segments.effective_language(default_language))
    where = segments.conditions(segment or {}, default_language=default_language, now=now,
                                timezone=settings["ESSBOT_TIMEZONE"])
    return columns, source, where


class _Plan:
    """Counts of a plan (preview or outbox), filled group by group."""

    def __init__(self, texts: Texts, policy: str, settings: Mapping[str, Any]):
        self.texts, self.policy, self.settings = texts, policy, settings
        self.country = str(setting(settings, "ESSBOT_COUNTRY"))
        self.templates = templates(settings)
        self.rendered: dict[tuple[str, str, str], Rendered] = {}
        self.by_route: Counter[str] = Counter()
        self.by_language: Counter[str] = Counter()
        self.by_route_language: dict[str, Counter[str]] = {}
        self.skipped: Counter[str] = Counter({r: 0 for r in SKIP_REASONS})
        self.sms_parts = 0
        self.whatsapp_messages = 0

    def text(self, language: str, channel: str, kind: str) -> Rendered:
        """The rendered text for (language, channel, kind), rendered once."""
        key = (language, channel, kind)
        if key not in self.rendered:
            self.rendered[key] = render(self.texts, language, channel, kind, self.settings)
        return self.rendered[key]

    def decide(self, group: Any) -> reach.Reach:
        """`reach.decide` for a row of `reach.fact_columns` with this plan's policy."""
        return reach.decide(reach.facts_of(group, self.country), self.policy,
                            group.language in self.templates)

    def add(self, language: str, decision: reach.Reach, n: int) -> Rendered | None:
        """Count `n` recipients with this decision; return their text (None when skipped)."""
        if not decision.ok:
            self.skipped[decision.reason] += n
            return None
        channel, kind = decision.channel, decision.kind
        rendered = self.text(language, channel, kind)
        name = decision.route
        self.by_route[name] += n
        self.by_language[language] += n
        self.by_route_language.setdefault(name, Counter())[language] += n
        if channel == "sms":
            self.sms_parts += rendered.parts * n
        else:
            self.whatsapp_messages += n
        return rendered

    def summary(self) -> dict[str, Any]:
        """The plan as JSON-ready data (see `preview`); costs in ESSBOT_CURRENCY."""
        price = float(setting(self.settings, "ESSBOT_PRICE_PER_PART"))
        wa_price = float(setting(self.settings, "ESSBOT_PRICE_PER_WHATSAPP"))
        sms_cost = sms.estimate_cost(self.sms_parts, price)
        wa_cost = sms.estimate_cost(self.whatsapp_messages, wa_price)
        texts: dict[str, dict[str, Any]] = {}
        for language in ("fr", "bm"):
            shown = {"sms": self.text(language, "sms", "text").as_dict(),
                     "whatsapp": self.text(language, "whatsapp", "text").as_dict()}
            if language in self.templates:
                shown["whatsapp_template"] = self.text(language, "whatsapp", "template").as_dict()
            texts[language] = shown
        return {
            "recipients": sum(self.by_route.values()),
            "by_channel": dict(sorted(self.by_route.items())),
            "by_language": dict(sorted(self.by_language.items())),
            "by_channel_language": {k: dict(sorted(v.items()))
                                    for k, v in sorted(self.by_route_language.items())},
            "texts": texts,
            "parts": {"sms": self.sms_parts, "whatsapp": self.whatsapp_messages},
            "cost": {"sms": round(sms_cost, 2), "whatsapp": round(wa_cost, 2),
                     "total": round(sms_cost + wa_cost, 2),
                     "currency": setting(self.settings, "ESSBOT_CURRENCY"),
                     "price_per_part": price, "price_per_whatsapp": wa_price},
            "skipped": dict(self.skipped),
        }

    def report(self) -> dict[str, Any]:
        """`summary` with its ``warnings`` (bot.broadcasts.notices.preview_warnings: the same
        list on the web page, in the CLI's JSON and for DIFFUSER)."""
        out = self.summary()
        out["warnings"] = notices.preview_warnings(out, self.settings,
                                                   bool((self.texts.bm or "").strip()))
        return out


# --- create, preview, start ------------------------------------------------------------------

def parse_local_time(text: str, timezone: str = "Africa/Bamako") -> datetime:
    """Read ``"YYYY-MM-DD HH:MM"`` as a time in `timezone` (ESSBOT_TIMEZONE) and return it as
    an aware UTC datetime — whatever the server's own time zone (TZ is never consulted).
    Raises BroadcastError on another format or an unknown zone."""
    try:
        naive = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise BroadcastError(f"--at {text!r}: write \"YYYY-MM-DD HH:MM\" ({timezone} time)"
                             ) from None
    try:
        zone = ZoneInfo(timezone)
    except Exception:  # noqa: BLE001 — ZoneInfoNotFoundError or a malformed key
        raise BroadcastError(f"unknown time zone {timezone!r} (ESSBOT_TIMEZONE)") from None
    from datetime import timezone as tz

    return naive.replace(tzinfo=zone).astimezone(tz.utc)


def local_time(value: datetime | None, timezone: str = "Africa/Bamako") -> str | None:
    """`value` (aware) shown as ``"YYYY-MM-DD HH:MM"`` in `timezone`; None stays None."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def _checked(app: Flask, title: str, text_fr: str, text_bm: str | None,
             segment: Mapping[str, Any] | None, channel_policy: str, at: datetime | None,
             now: datetime) -> dict[str, Any]:
    """The column values of a broadcast after the checks of `create` (see there); raises
    BroadcastError or segments.SegmentError."""
    title, text_fr = (title or "").strip(), (text_fr or "").strip()
    text_bm = (text_bm or "").strip()
    if not title or len(title) > 120:
        raise BroadcastError("the title must be 1 to 120 characters", "title")
    if not text_fr:
        raise BroadcastError("the French text is required", "text_fr")
    if channel_policy not in CHANNEL_POLICIES:
        raise BroadcastError(f"channel policy must be one of {', '.join(CHANNEL_POLICIES)}")
    if at is not None:
        if at.tzinfo is None:
            raise BroadcastError("the schedule time must carry its time zone")
        if at <= now:
            raise BroadcastError("the schedule time is in the past", "past")
    texts = Texts(title, text_fr, text_bm or None)
    for language in ("fr", "bm"):
        for channel in ("sms", "whatsapp"):
            body = render(texts, language, channel, "text", app.config).body
            if len(body) > MAX_BODY_CHARS:
                raise BroadcastError(f"the {language} text is {len(body)} characters on "
                                     f"{channel}; Twilio accepts {MAX_BODY_CHARS}", "too_long")
    return {"title": title, "text_fr": text_fr, "text_bm": text_bm or None,
            "segment": segments.normalize(segment or {}), "channel_policy": channel_policy,
            "scheduled_at": at}


def create(app: Flask, *, title: str, text_fr: str, text_bm: str | None = None,
           segment: Mapping[str, Any] | None = None, at: datetime | None = None,
           channel_policy: str = "auto", author: str | None = None,
           now: datetime | None = None, planned_at: datetime | None = None,
           plan: Mapping[str, Any] | None = None) -> int:
    """Create a broadcast (``draft``, or ``scheduled`` when `at` is given) and return its id.

    `at` is an aware datetime (see `parse_local_time`) in the future. `planned_at` (instead
    of `at`) keeps a wished time on a *draft* (``scheduled_at``) without scheduling it: the
    staff pages store the time chosen while composing and schedule only when staff confirm
    (`schedule`); the tick fires ``scheduled`` broadcasts only. `plan` is stored as is on the
    draft (DIFFUSER keeps its pending confirmation there; replaced when sending starts).
    Texts are checked as they will be sent: each rendered SMS body must fit Twilio's 1,600
    characters. Raises BroadcastError (or segments.SegmentError) on empty texts, a title over
    120 characters, a time in the past, an unknown channel policy or a bad segment.
    """
    now = now or utcnow()
    if at is not None and planned_at is not None:
        raise BroadcastError("give either at (schedule now) or planned_at (keep on the draft)")
    values = _checked(app, title, text_fr, text_bm, segment, channel_policy, at or planned_at,
                      now)
    state = BroadcastState.SCHEDULED if at else BroadcastState.DRAFT
    with transaction(app) as conn:
        broadcast_id = conn.execute(sa.insert(Broadcast.__table__).values(
            **values, state=state, author=author, plan=dict(plan) if plan else None,
            created_at=now, updated_at=now).returning(Broadcast.__table__.c.id)).scalar_one()
    log.info("broadcast %s created (%s, segment fields %s)", broadcast_id, state,
             ",".join(values["segment"]) or "all")
    return broadcast_id


def update_draft(app: Flask, broadcast_id: int, *, title: str, text_fr: str,
                 text_bm: str | None = None, segment: Mapping[str, Any] | None = None,
                 channel_policy: str = "auto", planned_at: datetime | None = None,
                 now: datetime | None = None) -> None:
    """Change a draft's texts, segment, channel policy and wished time (`planned_at`, see
    `create`), with the checks of `create`. Only a ``draft`` can change (a guarded UPDATE):
    raises BroadcastNotFound, InvalidTransition ("cannot edit a sending broadcast"),
    BroadcastError or segments.SegmentError."""
    now = now or utcnow()
    values = _checked(app, title, text_fr, text_bm, segment, channel_policy, planned_at, now)
    b = Broadcast.__table__
    with transaction(app) as conn:
        current = conn.execute(sa.select(b.c.state).where(b.c.id == broadcast_id)
                               .with_for_update()).scalar()
        if current is None:
            raise BroadcastNotFound(f"no broadcast {broadcast_id}")
        if current != BroadcastState.DRAFT:
            raise InvalidTransition(f"cannot edit a {current} broadcast")
        conn.execute(sa.update(b).where(b.c.id == broadcast_id, b.c.state == current)
                     .values(**values, plan=None, updated_at=now))


def get(app: Flask, broadcast_id: int) -> Any:
    """The broadcast row (Core row: id, title, texts, segment, state, times…); raises
    BroadcastNotFound."""
    with get_engine(app).connect() as conn:
        row = conn.execute(sa.select(Broadcast.__table__).where(
            Broadcast.__table__.c.id == broadcast_id)).first()
    if row is None:
        raise BroadcastNotFound(f"no broadcast {broadcast_id}")
    return row


def preview(app: Flask, broadcast_id: int, now: datetime | None = None) -> dict[str, Any]:
    """What sending would do now: recipients by channel and language, the rendered text per
    language (body, encoding, parts), parts and estimated cost (ESSBOT_CURRENCY), skipped
    recipients by reason, warnings. One GROUP BY query; at most six renders.

    A broadcast that already started returns its plan (the counts taken when the outbox was
    written, ``"snapshot": true``). Raises BroadcastNotFound.
    """
    now = now or utcnow()
    row = get(app, broadcast_id)
    head = _head(app, row)
    if row.state not in (BroadcastState.DRAFT, BroadcastState.SCHEDULED) and row.plan:
        return {**head, **row.plan, "snapshot": True}
    plan = _Plan(Texts.of(row), row.channel_policy, app.config)
    _tally(app, plan, row.segment, now)
    return {**head, **plan.report(), "snapshot": False}


def _tally(app: Flask, plan: "_Plan", segment: Mapping[str, Any] | None,
           now: datetime) -> None:
    """Count the segment's contacts into `plan`, group by group (one GROUP BY query)."""
    columns, source, where = _facts_query(app.config, segment, now)
    query = (sa.select(*columns, sa.func.count().label("n")).select_from(source).where(*where)
             .group_by(*columns))
    with get_engine(app).connect() as conn:
        for group in conn.execute(query):
            plan.add(group.language, plan.decide(group), group.n)


def count(app: Flask, segment: Mapping[str, Any] | None, channel_policy: str = "auto",
          now: datetime | None = None) -> dict[str, Any]:
    """Who a segment reaches now, for the compose page's live counter: ``{"contacts" (in the
    segment), "recipients", "by_channel", "skipped": {reason: n} (every reason of
    SKIP_REASONS), "opted_out", "reachable" (= recipients)}`` — the same decisions
    (`reach.decide`) and query as `preview` and `start`, so the three always agree.
    `segment` must be checked (segments.normalize). Raises BroadcastError for an unknown
    policy."""
    if channel_policy not in CHANNEL_POLICIES:
        raise BroadcastError(f"channel policy must be one of {', '.join(CHANNEL_POLICIES)}")
    plan = _Plan(Texts("", "", None), channel_policy, app.config)
    _tally(app, plan, segment, now or utcnow())
    recipients = sum(plan.by_route.values())
    skipped = dict(plan.skipped)
    return {"contacts": recipients + sum(skipped.values()), "recipients": recipients,
            "by_channel": dict(sorted(plan.by_route.items())), "skipped": skipped,
            "opted_out": skipped["opted_out"], "reachable": recipients}


def _head(app: Flask, row: Any) -> dict[str, Any]:
    zone = app.config["ESSBOT_TIMEZONE"]
    return {"id": row.id, "title": row.title, "state": row.state, "segment": row.segment,
            "channel_policy": row.channel_policy,
            "scheduled_at": local_time(row.scheduled_at, zone),
            "timezone": zone}


def check_sender(settings: Mapping[str, Any], channels: Iterable[str]) -> None:
    """Raise BroadcastError unless a sender exists for every channel in `channels` — checked
    before any outbox row is written. "whatsapp": Twilio credentials and TWILIO_WHATSAPP_FROM;
    "sms": Twilio credentials and TWILIO_SMS_FROM or TWILIO_MESSAGING_SERVICE_SID, or with
    ESSBOT_SMS_PROVIDER=smsgate the gateway's SMSGATE_URL, SMSGATE_USERNAME and
    SMSGATE_PASSWORD (bot/channels/smsgate.py)."""
    channels = set(channels)
    gateway = smsgate.carries(settings, "sms")
    missing: list[str] = []
    if "whatsapp" in channels or ("sms" in channels and not gateway):
        missing += [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
                    if not settings.get(name)]
    if "sms" in channels and gateway:
        missing += [name for name in ("SMSGATE_URL", "SMSGATE_USERNAME", "SMSGATE_PASSWORD")
                    if not settings.get(name)]
    elif "sms" in channels and not (settings.get("TWILIO_SMS_FROM")
                                    or settings.get("TWILIO_MESSAGING_SERVICE_SID")):
        missing.append("TWILIO_SMS_FROM or TWILIO_MESSAGING_SERVICE_SID")
    if "whatsapp" in channels and not settings.get("TWILIO_WHATSAPP_FROM"):
        missing.append("TWILIO_WHATSAPP_FROM")
    if missing:
        raise BroadcastError("cannot send: set " + ", ".join(missing), "no_sender",
                             names=", ".join(missing))


def start(app: Flask, broadcast_id: int, now: datetime | None = None,
          event: str = "start") -> dict[str, Any]:
    """Start sending: write the outbox and move the broadcast to ``sending``, in ONE transaction.

    The segment is read once (a snapshot): one row per contact (the unique pair broadcast/
    contact makes a second row impossible), opted-out contacts left out, unsendable ones
    written as ``skipped`` with their reason, the others ``pending`` with the rendered text
    and its parts. The plan (same counts as `preview`) is stored on the broadcast. Rows are
    kept as small tuples sharing their texts (tens of MB for 100,000 contacts) and written
    with `_bulk_insert`. Returns the plan with ``"pending"`` (rows to send).

    Raises BroadcastNotFound, InvalidTransition (already started, cancelled…) and
    BroadcastError when no Twilio sender is configured for a channel the plan needs (nothing
    is written then).
    """
    now = now or utcnow()
    settings = app.config
    b, c = Broadcast.__table__, Contact.__table__
    with transaction(app) as conn:
        row = conn.execute(sa.select(b).where(b.c.id == broadcast_id).with_for_update()).first()
        if row is None:
            raise BroadcastNotFound(f"no broadcast {broadcast_id}")
        target = BroadcastState.target(row.state, event)
        columns, source, where = _facts_query(settings, row.segment, now)
        recipients = conn.execute(sa.select(c.c.id, *columns).select_from(source).where(*where)
                                  .order_by(c.c.id))
        plan = _Plan(Texts.of(row), row.channel_policy, settings)
        # Contacts differ in a handful of reach flags only: decide once per distinct
        # (language, last channel, flags) and reuse the decision and the rendered text.
        decided: dict[tuple, tuple[reach.Reach, Rendered | None]] = {}
        counts: Counter[tuple] = Counter()
        values: list[tuple] = []
        for contact_id, *fields in recipients:
            key = tuple(fields)
            hit = decided.get(key)
            if hit is None:
                group = _Group(*key)
                decision = plan.decide(group)
                rendered = (plan.text(group.language, decision.channel, decision.kind)
                            if decision.ok else None)
                hit = decided[key] = (decision, rendered)
            counts[key] += 1
            decision, rendered = hit
            # Person-level reasons (STOP, no consent, demo, test) are counted in the plan
            # only: nobody could ever be sent a row of theirs.
            if decision.reason not in reach.PERSON_REASONS:
                values.append(_outbox_row(broadcast_id, contact_id, key[0], rendered, now,
                                          decision.reason))
        for key, n in counts.items():
            plan.add(key[0], decided[key][0], n)
        check_sender(settings, {d[0].channel for d in decided.values() if d[0].ok})
        pending = sum(1 for v in values if v[_STATE] == OutboxState.PENDING)
        _bulk_insert(conn, values)
        del values
        summary = plan.report()
        done = conn.execute(sa.update(b).where(b.c.id == broadcast_id, b.c.state == row.state)
                            .values(state=target, started_at=now, updated_at=now, plan=summary))
        if done.rowcount != 1:  # pragma: no cover — the row lock makes this a bug, not a race
            raise InvalidTransition(f"broadcast {broadcast_id} changed while starting")
    log.info("broadcast %s started: %d to send, skipped %s", broadcast_id, pending,
             {k: v for k, v in summary["skipped"].items() if v})
    return {**summary, "pending": pending}


#: Outbox columns written when sending starts, in the order of `_outbox_row` tuples.
OUTBOX_COLUMNS = ("broadcast_id", "contact_id", "channel", "kind", "language", "body",
                  "content_sid", "parts", "encoding", "state", "skip_reason", "attempts",
                  "next_attempt_at", "queued_at", "created_at")
_STATE = OUTBOX_COLUMNS.index("state")


class _Group:
    """One recipient's routing inputs, as read by `reach.fact_columns` (without the contact
    id)."""

    __slots__ = reach.FACT_NAMES

    def __init__(self, *values: Any):
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)


def _outbox_row(broadcast_id: int, contact_id: int, language: str, rendered: Rendered | None,
                now: datetime, skip_reason: str | None) -> tuple:
    if rendered is None:
        return (broadcast_id, contact_id, "none", "text", language, "", None, 0, None,
                OutboxState.SKIPPED, skip_reason, 0, None, None, now)
    # queued_at is set now: the rows are enqueued right after the commit; a crash in between
    # is caught by the tick (bot/broadcasts/tasks.py, "orphans").
    return (broadcast_id, contact_id, rendered.channel, rendered.kind, language, rendered.body,
            rendered.content_sid, rendered.parts, rendered.encoding, OutboxState.PENDING, None,
            0, now, now, now)


def _bulk_insert(conn: sa.Connection, rows: list[tuple]) -> None:
    """Insert outbox rows inside the caller's transaction: PostgreSQL's COPY through psycopg
    (executemany took 6 s for 100,000 rows, COPY well under one), executemany in batches of
    INSERT_BATCH on SQLite (already fast there)."""
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        columns = ", ".join(OUTBOX_COLUMNS)
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY outbox ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    table = Outbox.__table__
    for i in range(0, len(rows), INSERT_BATCH):
        conn.execute(sa.insert(table), [dict(zip(OUTBOX_COLUMNS, row, strict=True))
                                        for row in rows[i:i + INSERT_BATCH]])


def pending_ids(app: Flask, broadcast_id: int) -> list[int]:
    """Ids of the broadcast's ``pending`` outbox rows, in id order (what to enqueue)."""
    o = Outbox.__table__
    with get_engine(app).connect() as conn:
        return list(conn.execute(sa.select(o.c.id).where(
            o.c.broadcast_id == broadcast_id, o.c.state == OutboxState.PENDING)
            .order_by(o.c.id)).scalars())


# --- lifecycle -------------------------------------------------------------------------------

def transition(conn: sa.Connection, broadcast_id: int, event: str, now: datetime,
               **values: Any) -> str:
    """Apply `event` to the broadcast inside the caller's transaction; return the new state.

    The row is locked (FOR UPDATE on PostgreSQL; SQLite transactions are already exclusive),
    the move checked by BroadcastState and written with a guarded UPDATE. Raises
    BroadcastNotFound or InvalidTransition.
    """
    b = Broadcast.__table__
    current = conn.execute(sa.select(b.c.state).where(b.c.id == broadcast_id)
                           .with_for_update()).scalar()
    if current is None:
        raise BroadcastNotFound(f"no broadcast {broadcast_id}")
    target = BroadcastState.target(current, event)
    done = conn.execute(sa.update(b).where(b.c.id == broadcast_id, b.c.state == current)
                        .values(state=target, updated_at=now, **values))
    if done.rowcount != 1:  # pragma: no cover
        raise InvalidTransition(f"broadcast {broadcast_id} changed meanwhile")
    return target


def schedule(app: Flask, broadcast_id: int, at: datetime | None,
             now: datetime | None = None) -> str:
    """Set (or clear, with None) the send time of a draft or scheduled broadcast; returns the
    new state. Raises BroadcastError for a time in the past, InvalidTransition otherwise."""
    now = now or utcnow()
    if at is not None and at <= now:
        raise BroadcastError("the schedule time is in the past", "past")
    with transaction(app) as conn:
        return transition(conn, broadcast_id, "schedule" if at else "unschedule", now,
                          scheduled_at=at)


def cancel(app: Flask, broadcast_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Cancel a broadcast: rows not yet handed to Twilio (``pending``) become ``cancelled`` in
    the same transaction, so no worker claims them afterwards. Rows in flight (``sending``,
    ``unknown``) finish or are reconciled: a message Twilio already accepted cannot be called
    back (docs/twilio.md: Twilio queues per sender — which is why the rate limit is applied here,
    before Twilio). Returns ``{"state", "cancelled", "in_flight"}``; raises InvalidTransition
    for a broadcast already sent, failed or cancelled.
    """
    now = now or utcnow()
    o = Outbox.__table__
    with transaction(app) as conn:
        state = transition(conn, broadcast_id, "cancel", now, finished_at=now)
        cancelled = conn.execute(sa.update(o).where(
            o.c.broadcast_id == broadcast_id, o.c.state == OutboxState.PENDING)
            .values(state=OutboxState.CANCELLED)).rowcount
        in_flight = conn.execute(sa.select(sa.func.count()).select_from(o).where(
            o.c.broadcast_id == broadcast_id,
            o.c.state.in_([OutboxState.SENDING, OutboxState.UNKNOWN]))).scalar_one()
    log.info("broadcast %s cancelled: %d rows cancelled, %d in flight", broadcast_id, cancelled,
             in_flight)
    return {"id": broadcast_id, "state": state, "cancelled": cancelled, "in_flight": in_flight}


def finish_if_done(app: Flask, broadcast_id: int, now: datetime | None = None) -> str | None:
    """Close a ``sending`` broadcast whose outbox rows are all final: ``sent``, or ``failed``
    when not one message was accepted and some failed. Returns the new state, or None when
    rows are still open or the broadcast is not sending."""
    now = now or utcnow()
    b, o = Broadcast.__table__, Outbox.__table__
    with get_engine(app).connect() as conn:  # cheap check without the write lock
        open_row = conn.execute(sa.select(o.c.id).where(
            o.c.broadcast_id == broadcast_id, o.c.state.in_(OutboxState.OPEN)).limit(1)).first()
        state = conn.execute(sa.select(b.c.state).where(b.c.id == broadcast_id)).scalar()
    if open_row is not None or state != BroadcastState.SENDING:
        return None
    with transaction(app) as conn:
        # Lock the broadcast BEFORE counting: a status callback turning a row back to pending
        # (a late 63016) holds this lock while it does, so the count below sees its change.
        state = conn.execute(sa.select(b.c.state).where(b.c.id == broadcast_id)
                             .with_for_update()).scalar()
        if state != BroadcastState.SENDING:
            return None
        counts = dict(conn.execute(sa.select(o.c.state, sa.func.count()).where(
            o.c.broadcast_id == broadcast_id).group_by(o.c.state)).all())
        if any(counts.get(s) for s in OutboxState.OPEN):
            return None
        event = "fail" if not counts.get(OutboxState.SENT) and counts.get(OutboxState.FAILED) \
            else "finish"
        try:
            new = transition(conn, broadcast_id, event, now, finished_at=now,
                             error="no message was accepted" if event == "fail" else None)
        except InvalidTransition:
            return None  # another worker closed it first
        # Partners' webhooks (bot/events.py): in this transaction, so reported exactly once.
        events.emit(conn, events.ANNOUNCEMENT_FINISHED,
                    {"announcement_id": broadcast_id, "state": new,
                     "by_state": {k: int(v) for k, v in counts.items()}}, now)
    log.info("broadcast %s %s", broadcast_id, new)
    return new


#: Twilio statuses of a message that was accepted and then not delivered.
DELIVERY_FAILED = ("failed", "undelivered")


def outcome(state: str, status: str | None) -> str:
    """What an outbox row means for the delivery report, the one rule of every table and
    counter of the staff pages: its state, except that a row accepted by Twilio (``sent``)
    whose status callback then said failed or undelivered counts as ``"failed"`` (the person
    got nothing), not as accepted."""
    if state == OutboxState.SENT and status in DELIVERY_FAILED:
        return OutboxState.FAILED
    return state


#: ``fallback_from`` of a row sent again after its failure (`resend_failed`): the mark that a
#: failed message is resent once, never twice.
RESENT = "resend"


def _failed(o: sa.Table) -> sa.ColumnElement[bool]:
    # The SQL form of `outcome(...) == "failed"`: one meaning of "failed" for counts and resends.
    return sa.or_(o.c.state == OutboxState.FAILED,
                  sa.and_(o.c.state == OutboxState.SENT, o.c.status.in_(DELIVERY_FAILED)))


def resendable(conn: sa.Connection, broadcast_id: int) -> int:
    """How many of the broadcast's messages failed (`outcome`) and were not resent yet."""
    o = Outbox.__table__
    return int(conn.execute(sa.select(sa.func.count()).select_from(o).where(
        o.c.broadcast_id == broadcast_id, _failed(o),
        sa.or_(o.c.fallback_from.is_(None), sa.not_(o.c.fallback_from.like(RESENT + "%"))))
    ).scalar_one())


def resend_failed(app: Flask, broadcast_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Send again, once, the messages of a finished broadcast that failed (a Twilio balance
    or sender fixed since, a phone back on): each such outbox row goes back to ``pending``
    with its previous sid, status and error forgotten (``fallback_from`` keeps
    "resend:<error code or status>", so it is never resent twice) and the broadcast resumes
    (sent → sending). The sender's last check before each request applies the reach rule
    again (bot.broadcasts.reach): a person who sent STOP or withdrew consent since is
    skipped. Returns ``{"resent": N}``; the caller queues `pending_ids`. Raises
    BroadcastNotFound, BroadcastError ``not_finished`` (still sending, or never sent) or
    ``nothing_to_resend``."""
    now = now or utcnow()
    o, b = Outbox.__table__, Broadcast.__table__
    with transaction(app) as conn:
        state = conn.execute(sa.select(b.c.state).where(b.c.id == broadcast_id)
                             .with_for_update()).scalar()
        if state is None:
            raise BroadcastNotFound(f"no broadcast {broadcast_id}")
        if state != BroadcastState.SENT:
            raise BroadcastError(f"broadcast {broadcast_id} is {state}: only a finished "
                                 "broadcast can be resent", "not_finished")
        rows = conn.execute(sa.select(o.c.id, o.c.error_code, o.c.status).where(
            o.c.broadcast_id == broadcast_id, _failed(o),
            sa.or_(o.c.fallback_from.is_(None),
                   sa.not_(o.c.fallback_from.like(RESENT + "%"))))).all()
        if not rows:
            raise BroadcastError(f"broadcast {broadcast_id}: no failed message left to resend",
                                 "nothing_to_resend")
        for row in rows:
            conn.execute(sa.update(o).where(o.c.id == row.id).values(
                state=OutboxState.PENDING,
                fallback_from=f"{RESENT}:{row.error_code or row.status or ''}"[:32],
                provider_sid=None, message_id=None, status=None, error_code=None,
                claimed_at=None, queued_at=None, attempts=0, next_attempt_at=now,
                status_at=None, sent_at=None))
        transition(conn, broadcast_id, "resume", now, finished_at=None)
    log.info("broadcast %s: %s failed messages resent", broadcast_id, len(rows))
    return {"resent": len(rows)}


def status(app: Flask, broadcast_id: int) -> dict[str, Any]:
    """Progress and delivery report: outbox rows by state, by channel and state, by Twilio
    status, failures by error code and by reason (the SMS gateway's ``sms:failed`` reasons,
    which come without a code), skipped by reason (opted-out from the plan), SMS parts
    accepted by Twilio and their estimated cost. Raises BroadcastNotFound."""
    row = get(app, broadcast_id)
    o = Outbox.__table__
    with get_engine(app).connect() as conn:
        by = conn.execute(sa.select(o.c.channel, o.c.kind, o.c.state, o.c.status, o.c.error_code,
                                    o.c.skip_reason, sa.func.count(), sa.func.sum(o.c.parts))
                          .where(o.c.broadcast_id == broadcast_id)
                          .group_by(o.c.channel, o.c.kind, o.c.state, o.c.status, o.c.error_code,
                                    o.c.skip_reason)).all()
        m = Message.__table__
        reason = m.c.attributes["error_reason"].as_string()
        reasons = dict(conn.execute(
            sa.select(reason, sa.func.count()).where(m.c.broadcast_id == broadcast_id,
                                                     reason.is_not(None)).group_by(reason)).all())
    by_state: Counter[str] = Counter({s: 0 for s in OutboxState.ALL})
    by_channel: dict[str, Counter[str]] = {}
    by_status: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    skipped: Counter[str] = Counter({r: 0 for r in SKIP_REASONS})
    sms_parts = 0
    for channel, kind, state, st, code, reason, n, parts in by:
        by_state[state] += n
        if state == OutboxState.SKIPPED:
            skipped[reason or "other"] += n
            continue
        name = channel if kind == "text" else f"{channel}_{kind}"
        by_channel.setdefault(name, Counter())[outcome(state, st)] += n
        if st:
            by_status[st] += n
        if code:
            errors[str(code)] += n
        if state == OutboxState.SENT and channel == "sms":
            sms_parts += int(parts or 0)
    if row.plan:  # person-level reasons are counted in the plan, never written as rows
        for name in reach.PERSON_REASONS:
            skipped[name] = row.plan.get("skipped", {}).get(name, 0)
    price = float(setting(app.config, "ESSBOT_PRICE_PER_PART"))
    return {**_head(app, row), "error": row.error,
            "started_at": local_time(row.started_at, app.config["ESSBOT_TIMEZONE"]),
            "finished_at": local_time(row.finished_at, app.config["ESSBOT_TIMEZONE"]),
            "recipients": sum(by_state.values()) - by_state[OutboxState.SKIPPED],
            "by_state": dict(by_state),
            "by_channel": {k: dict(v) for k, v in sorted(by_channel.items())},
            "by_status": dict(sorted(by_status.items())),
            "errors": dict(sorted(errors.items())),
            "failure_reasons": dict(sorted(reasons.items())), "skipped": dict(skipped),
            "sms_parts_sent": sms_parts,
            "cost_sent": {"amount": round(sms.estimate_cost(sms_parts, price), 2),
                          "currency": setting(app.config, "ESSBOT_CURRENCY")}}
