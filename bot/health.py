"""Liveness and readiness probes for load balancers and operators."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify

from bot.db import get_engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Process is up: always 200 ``{"status": "ok"}``."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Database reachable: 200 ``{"status": "ready"}``, else 503 with the reason."""
    try:
        with get_engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return jsonify(status="unavailable", reason=type(exc).__name__), 503
    return jsonify(status="ready")
