"""Staff interface: Annonces (placeholder page until this area is built)."""

from __future__ import annotations

from flask import render_template

from bot.admin import bp, require_role


@bp.get("/broadcasts", endpoint="broadcasts")
@require_role("viewer")
def index():
    """The Annonces page."""
    return render_template("admin/placeholder.html", title="Annonces")
