"""Staff accounts and the audit log of the staff interface (issue 6).

`StaffUser` is one member of the mairie's ESS service who logs in to ``/admin``. Roles
(:data:`ROLES`) are cumulative: a *viewer* reads the dashboard, registry and inbox; an *agent*
also answers tickets, edits the registry and content, exports, imports and broadcasts; an
*admin* also manages accounts. `phone` (E.164, optional) is the staff member's own phone: a
message from it may start a broadcast by SMS/WhatsApp ("DIFFUSER …", issue 7).

`AuditEvent` is one line of "who viewed, exported, edited, sent what" (Loi 2013-015 on personal
data: the controller must be able to show who accessed the registry). It stores the staff
member's id and e-mail (kept if the account is later removed), an action, a target such as
``actor:12`` and a small JSON detail — never a phone number or a message body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so
from werkzeug.security import check_password_hash, generate_password_hash

from bot.models.base import Base, utcnow

#: Roles from least to most trusted; each includes the rights of those before it.
ROLES = ("viewer", "agent", "admin")

#: Password hashing method (werkzeug's scrypt: memory-hard, OWASP-recommended parameters).
PASSWORD_METHOD = "scrypt"

#: Shortest password accepted, in characters (NIST SP 800-63B: at least 8).
MIN_PASSWORD_LENGTH = 10

#: A DIFFUSER PIN: 4 to 8 digits (typed on a basic phone's keypad after OUI).
PIN_DIGITS = (4, 8)
#: Wrong or missing PINs in a row after which DIFFUSER is locked for the account.
MAX_PIN_FAILURES = 3
#: Minutes DIFFUSER stays locked after MAX_PIN_FAILURES (a new PIN set by an admin unlocks).
PIN_LOCK_MINUTES = 60


def valid_pin(pin: str | None) -> bool:
    """Whether `pin` is PIN_DIGITS[0] to PIN_DIGITS[1] ASCII digits."""
    low, high = PIN_DIGITS
    return bool(pin) and pin.isascii() and pin.isdigit() and low <= len(pin) <= high


class StaffUser(Base):
    """One staff account: `email` (unique, lower case), `name`, `role` in :data:`ROLES`,
    `password_hash` (werkzeug scrypt), `active` (a deactivated account cannot log in),
    `phone` (E.164 or None). Flask-Login uses :meth:`get_id` and :attr:`is_active`."""

    __tablename__ = "staff_user"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(200), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120), default="")
    role: so.Mapped[str] = so.mapped_column(sa.String(16), default="viewer")
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(256))
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(32), unique=True)
    active: so.Mapped[bool] = so.mapped_column(default=True, server_default=sa.true())
    # Part of the id kept in the session cookie: raising it ends every open session of the
    # account (logout, password or role change, deactivation). Flask's sessions live in a
    # signed cookie, so without it a copied cookie would stay valid after logout.
    session_version: so.Mapped[int] = so.mapped_column(default=1, server_default="1")
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_login_at: so.Mapped[datetime | None]
    # DIFFUSER by phone (issue 14): the personal PIN typed after OUI (werkzeug scrypt hash,
    # as passwords), wrong PINs in a row, and the end of the lockout they caused.
    diffuser_pin_hash: so.Mapped[str | None] = so.mapped_column(sa.String(256))
    diffuser_pin_failures: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    diffuser_locked_until: so.Mapped[datetime | None]

    # Flask-Login's user protocol.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        """Whether the account may log in (Flask-Login refuses inactive users)."""
        return bool(self.active)

    def get_id(self) -> str:
        """The id Flask-Login stores in the session: ``"<id>.<session_version>"``."""
        return f"{self.id}.{self.session_version or 1}"

    def end_sessions(self) -> None:
        """Make every session opened so far invalid (their stored id no longer matches)."""
        self.session_version = (self.session_version or 1) + 1

    def set_password(self, password: str) -> None:
        """Hash and store `password`. Raises ValueError if it is shorter than
        :data:`MIN_PASSWORD_LENGTH` characters."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
        if self.id is not None:
            self.end_sessions()  # a new password logs out whoever knew the old one

    def check_password(self, password: str) -> bool:
        """Whether `password` matches the stored hash (constant-time compare)."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def set_diffuser_pin(self, pin: str | None) -> None:
        """Hash and store the DIFFUSER `pin` (see :func:`valid_pin`), or remove it (None or
        ""), and clear the wrong-PIN count and lockout. Raises ValueError for a PIN that is
        not 4 to 8 digits."""
        if pin and not valid_pin(pin):
            raise ValueError("the DIFFUSER PIN must be 4 to 8 digits")
        self.diffuser_pin_hash = generate_password_hash(pin, method=PASSWORD_METHOD) \
            if pin else None
        self.diffuser_pin_failures = 0
        self.diffuser_locked_until = None

    def can(self, role: str) -> bool:
        """Whether this account has at least the rights of `role` (one of :data:`ROLES`)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def __repr__(self) -> str:
        return f"<StaffUser {self.id} {self.role}>"


class AuditEvent(Base):
    """One audited action of the staff interface or CLI: `action` (``login``,
    ``login_failed``, ``view``, ``export``, ``import``, ``edit``, ``delete``, ``reply``,
    ``send``, ``staff``…), `target` (``actor:12``, ``ticket:3``, ``registry``…), `detail`
    (small JSON: filters used, fields changed — never phones or message bodies), the staff
    member (`staff_id`, `staff_email`), the client address `ip`, and `at` (UTC)."""

    __tablename__ = "audit_event"
    # The API's throttle counts a token's recent calls here (bot/api/auth.py).
    __table_args__ = (sa.Index("ix_audit_event_target_at", "target", "at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    staff_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), index=True)
    staff_email: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    action: so.Mapped[str] = so.mapped_column(sa.String(32))
    target: so.Mapped[str | None] = so.mapped_column(sa.String(80))
    detail: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    ip: so.Mapped[str | None] = so.mapped_column(sa.String(64))

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action} {self.target}>"


class LoginFailure(Base):
    """One failed login of the staff interface, counted by bot.admin.auth's throttle.

    `scope` is ``pair`` (`key` = client address and e-mail) or ``address`` (`key` = client
    address), `at` the UTC time. Kept in the database rather than in Flask-Limiter's storage:
    Flask-Limiter (the ``limits`` library) stores counts in memory, Redis, Memcached, MongoDB
    or etcd — none of them SQL — so on the embedded default each gunicorn worker counted on its
    own (issue 14). Rows older than the longest window are deleted as new ones come.
    """

    __tablename__ = "login_failure"
    __table_args__ = (sa.Index("ix_login_failure_key_at", "scope", "key", "at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    scope: so.Mapped[str] = so.mapped_column(sa.String(8))
    key: so.Mapped[str] = so.mapped_column(sa.String(300))
    at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
