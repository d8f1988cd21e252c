"""The staff audit log: who viewed, exported, edited or sent what (``AuditEvent`` rows).

Written by the staff pages (bot.admin.audit, which adds the logged-in account and the
request's address), the CLI (``staff_email="cli"``) and DIFFUSER from a staff phone. It lives
below those callers so that none of them has to import another's package (no layer imports
the staff interface). The log holds no personal data: ids, field names and counts only,
never phones or message bodies.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from bot.db import session_scope
from bot.models import utcnow
from bot.models.staff import AuditEvent


def audit_event(action: str, target: str | None, *, staff_id: int | None,
                staff_email: str | None, ip: str | None = None,
                detail: dict[str, Any] | None = None) -> AuditEvent:
    """A new, unsaved AuditEvent dated now: `action` (e.g. ``"export"``), `target`
    (``"actor:12"``, ``"broadcast:3"`` or None), the account (id and e-mail, or None), the
    client address `ip` and `detail` (JSON-serialisable)."""
    return AuditEvent(action=action, target=target, staff_id=staff_id, staff_email=staff_email,
                      ip=ip, detail=detail or {}, at=utcnow())


def record_audit(app: Flask, action: str, target: str | None, *, staff_id: int | None,
                 staff_email: str | None, ip: str | None = None,
                 detail: dict[str, Any] | None = None) -> None:
    """Store one AuditEvent in its own transaction, outside a request (the CLI passes
    ``staff_email="cli"``; DIFFUSER the account of the staff phone). Arguments as
    :func:`audit_event`. Database errors propagate."""
    with session_scope(app) as session:
        session.add(audit_event(action, target, staff_id=staff_id, staff_email=staff_email,
                                ip=ip, detail=detail))
