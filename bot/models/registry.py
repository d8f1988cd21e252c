"""Tables of the registry pages of the staff interface (issue 6, item 4).

`RegistryImport` keeps one uploaded list (CSV or Excel) between its preview and its
confirmation, so the file never needs uploading twice on a slow line. It is stored in the
database rather than in the session cookie (too small), a hidden form field (the rows would
travel back and forth again) or a file of the instance folder (not shared by several web
machines): the database is shared, survives a restart, and lets a confirmation run only once
(`status`). The parsed rows are personal data: they are cleared as soon as the import is done,
and a pending import older than IMPORT_TTL_HOURS is refused and purged (Loi 2013-015: keep
nothing longer than needed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from bot.models.base import Base, utcnow

#: Hours a previewed import may wait for its confirmation.
IMPORT_TTL_HOURS = 24


class RegistryImport(Base):
    """One uploaded list: `token` (random, in the preview URL), the staff member who uploaded it
    (`staff_id`), the file name, `report` (JSON: the rows to create with their normalised values,
    duplicates, errors; see bot.registry.importer.ImportReport.as_dict), `status` (``pending``
    → ``imported``), `created_at`, `imported_at` and `imported` (actors created)."""

    __tablename__ = "registry_import"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    staff_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"))
    filename: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    report: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="pending")
    imported: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    imported_at: so.Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<RegistryImport {self.id} {self.status}>"
