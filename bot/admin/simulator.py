"""Staff interface: Simulateur (placeholder page until this area is built)."""

from __future__ import annotations

from flask import render_template

from bot.admin import bp, require_role


@bp.get("/simulator", endpoint="simulator")
@require_role("agent")
def index():
    """The Simulateur page."""
    return render_template("admin/placeholder.html", title="Simulateur")
