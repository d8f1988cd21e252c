"""Staff interface: Tableau de bord (placeholder page until this area is built)."""

from __future__ import annotations

from flask import render_template

from bot.admin import bp, require_role


@bp.get("/", endpoint="dashboard")
@require_role("viewer")
def index():
    """The Tableau de bord page."""
    return render_template("admin/placeholder.html", title="Tableau de bord")
