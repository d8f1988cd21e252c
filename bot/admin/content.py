"""Staff interface: Contenus (placeholder page until this area is built)."""

from __future__ import annotations

from flask import render_template

from bot.admin import bp, require_role


@bp.get("/content", endpoint="content")
@require_role("viewer")
def index():
    """The Contenus page."""
    return render_template("admin/placeholder.html", title="Contenus")
