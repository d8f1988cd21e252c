"""Staff interface: Registre (placeholder page until this area is built)."""

from __future__ import annotations

from flask import render_template

from bot.admin import bp, require_role


@bp.get("/registry", endpoint="registry")
@require_role("viewer")
def index():
    """The Registre page."""
    return render_template("admin/placeholder.html", title="Registre")
