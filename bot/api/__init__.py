"""The partner API at ``/api/v1/`` (issue 21): JSON over HTTPS with tokens.

Partners of the commune's ESS policy (the social-protection directorate, NGOs, the chamber of
trades, the RSU registry) read the registry, its anonymous statistics and the announcements,
and — with a ``write`` token — draft and send announcements, without a CSV passed by hand.
docs/api.md is the partners' page; ``/api/v1/openapi.json`` the machine-readable description.

Shared rules, applied to every route of the blueprint so none can forget them:

- **Tokens** (bot.api_tokens): ``Authorization: Token <token>``; 401 without one or with an
  unknown or revoked one, 403 for a route outside the token's scope (:func:`require_scope`) or
  for personal data the token is not allowed.
- **Throttle**: ``ESSBOT_API_RATE`` per token (429 with ``Retry-After``), counted over the audit
  log, which every process shares (bot/api/auth.py).
- **Audit**: every call is an ``api`` line of the audit log (token, method, path, status,
  the names of the parameters — never their values, which may hold a phone).
- **Errors** are JSON ``{"error": {"code", "message"}}`` under ``/api/``, never an HTML page.

It sits on top, beside the staff interface (docs/architecture.md): nothing imports it but the
app factory, which registers it with ``bot.api.setup.init_app`` (kept apart, as
bot.admin.setup, so that the route modules importing this package are not imported by it).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: Stable error codes by HTTP status (the ``code`` of a JSON error).
ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large",
               415: "unsupported_media_type", 429: "throttled", 500: "internal",
               503: "unavailable"}


def error_response(status: int, message: str, code: str | None = None,
                   **extra: Any):
    """A JSON error response: ``{"error": {"code", "message", …extra}}`` with `status`;
    `code` defaults to ERROR_CODES[status]."""
    body = {"code": code or ERROR_CODES.get(status, "error"), "message": message, **extra}
    response = jsonify({"error": body})
    response.status_code = status
    return response


def http_error(exc: Any):
    """The JSON form of a werkzeug HTTPException raised under /api/ (the app's error handler
    calls it): status kept, its description as the message, Retry-After kept on a 429."""
    code = exc.code or 500
    response = error_response(code, exc.description or exc.name)
    if getattr(exc, "retry_after", None):
        response.headers["Retry-After"] = str(exc.retry_after)
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Token realm="essbot"'
    return response
