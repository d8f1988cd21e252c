"""Office hours of the ESS service: when a person handed over to staff can expect an answer.

Pure (stdlib only), so the dialog engine can use it with a fake clock. The setting
``ESSBOT_OFFICE_HOURS`` reads like ``"mon-fri 08:00-16:00"``; several groups are separated by
commas (``"mon-thu 08:00-16:00, fri 08:00-12:00"``). Times are local to ``ESSBOT_TIMEZONE``
(Africa/Bamako, UTC+0 all year: Mali has no daylight saving time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["DAYS", "OfficeHours", "parse_office_hours", "next_answer"]

#: Day abbreviations of the setting, Monday first (datetime.weekday() order).
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_GROUP = re.compile(r"^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?"
                    r"\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class OfficeHours:
    """Opening hours per weekday: ``hours[d]`` is (open, close) local times or None (closed),
    d = 0 for Monday."""

    hours: tuple[tuple[time, time] | None, ...]


def parse_office_hours(spec: str) -> OfficeHours:
    """Parse ``"mon-fri 08:00-16:00[, sat 09:00-12:00]"``; raises ValueError on anything else
    (an unknown day, a time out of range, closing before opening)."""
    hours: list[tuple[time, time] | None] = [None] * 7
    for group in (spec or "").lower().split(","):
        match = _GROUP.match(group)
        if not match:
            raise ValueError(f"office hours {group.strip()!r}: expected like 'mon-fri 08:00-16:00'")
        first, last, h1, m1, h2, m2 = match.groups()
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"office hours: unknown day in {group.strip()!r}")
        start, end = DAYS.index(first), DAYS.index(last or first)
        opening, closing = time(int(h1), int(m1)), time(int(h2), int(m2))
        if closing <= opening:
            raise ValueError(f"office hours: {group.strip()!r} closes before it opens")
        day = start
        while True:
            hours[day] = (opening, closing)
            if day == end:
                break
            day = (day + 1) % 7
    if not any(hours):
        raise ValueError("office hours: no open day")
    return OfficeHours(tuple(hours))


def next_answer(now: datetime, spec: str, timezone: str = "Africa/Bamako") -> tuple[str, int, str]:
    """When staff can next answer, as seen at `now` (aware datetime).

    Returns (kind, weekday, "HH:MM"): kind ``"now"`` (the office is open: today),
    ``"today"`` (opens later today at HH:MM), ``"tomorrow"`` or ``"day"`` (opens on
    `weekday`, 0 = Monday, at HH:MM). Raises ValueError on a bad `spec`.
    """
    hours = parse_office_hours(spec)
    local = now.astimezone(ZoneInfo(timezone))
    today = hours.hours[local.weekday()]
    if today is not None:
        if today[0] <= local.time() < today[1]:
            return "now", local.weekday(), today[1].strftime("%H:%M")
        if local.time() < today[0]:
            return "today", local.weekday(), today[0].strftime("%H:%M")
    for ahead in range(1, 8):
        day = local + timedelta(days=ahead)
        opening = hours.hours[day.weekday()]
        if opening is not None:
            kind = "tomorrow" if ahead == 1 else "day"
            return kind, day.weekday(), opening[0].strftime("%H:%M")
    raise ValueError("office hours: no open day")  # pragma: no cover - parse refuses it
