"""Staff interface: Boîte de réception (placeholder page until this area is built)."""

from __future__ import annotations

from flask import render_template

from bot.admin import bp, require_role


@bp.get("/inbox", endpoint="inbox")
@require_role("viewer")
def index():
    """The Boîte de réception page."""
    return render_template("admin/placeholder.html", title="Boîte de réception")
