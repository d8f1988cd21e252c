"""Twilio webhooks: inbound messages (SMS and WhatsApp) and status callbacks.

Contract (docs/architecture.md): ``POST /webhooks/twilio/messages`` answers TwiML;
``POST /webhooks/twilio/status`` answers 204. Both answer 403 with no detail on a
missing or wrong X-Twilio-Signature and 503 when no auth token is configured, so
unsigned traffic is never accepted.
"""

from __future__ import annotations

import logging
from functools import wraps

from flask import Blueprint, Response, abort, current_app, request

from bot.channels import twilio as tw
from bot.conversations import handle_inbound, update_status
from bot.models import utcnow
from bot.phones import InvalidPhone

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/twilio")

TWIML = "application/xml"


def public_url() -> str:
    """The URL Twilio called for this request: ESSBOT_PUBLIC_URL + path + query string.

    Behind a TLS-terminating proxy Flask sees ``http://…`` while Twilio signed
    ``https://…``; the configured public base URL fixes that. Without it, the URL
    Flask sees is used (fine when nothing sits in front of the app).
    """
    base = current_app.config.get("ESSBOT_PUBLIC_URL")
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def status_callback_url() -> str:
    """Absolute URL of the status callback endpoint, for TwiML and REST sends."""
    base = current_app.config.get("ESSBOT_PUBLIC_URL") or request.host_url.rstrip("/")
    return tw.status_callback_url(base)


def twilio_signed(view):
    """Decorator: refuse the request unless Twilio signed it (403), or 503 if no token."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = current_app.config.get("TWILIO_AUTH_TOKEN")
        if not token:
            abort(503, "TWILIO_AUTH_TOKEN is not configured")
        if not tw.is_valid_signature(token, public_url(), request.form,
                                     request.headers.get("X-Twilio-Signature")):
            log.warning("refused a request with a missing or wrong Twilio signature on %s",
                        request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.post("/messages")
@twilio_signed
def messages() -> Response:
    """Receive one SMS or WhatsApp message and answer it with TwiML.

    A signed request that is not a genuine inbound message (a re-split replay, another
    account's: bot.channels.twilio.inbound_refusal) is answered 403 and nothing is stored.
    """
    refusal = tw.inbound_refusal(request.form, current_app.config.get("TWILIO_ACCOUNT_SID"))
    if refusal:
        log.warning("refused a signed inbound request: %s", refusal)
        abort(403)
    try:
        msg = tw.parse_inbound(request.form, utcnow(), current_app.config["ESSBOT_COUNTRY"])
    except (ValueError, InvalidPhone) as exc:
        # Signed by Twilio but unusable (no sender, an alphanumeric sender): nothing to
        # answer to, and a retry would not help.
        log.warning("ignored a signed message that cannot be read: %s", exc)
        return Response(tw.twiml([], None), mimetype=TWIML)
    result = handle_inbound(current_app._get_current_object(), msg)
    return Response(tw.twiml(result.replies, status_callback_url()), mimetype=TWIML)


@bp.post("/status")
@twilio_signed
def status() -> Response:
    """Record a message status callback (sent, delivered, read, failed…)."""
    sid = request.form.get("MessageSid") or request.form.get("SmsSid")
    new_status = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").lower()
    if not sid or not new_status:
        abort(400, "MessageSid and MessageStatus are required")
    if not tw.is_valid_sid(sid):
        abort(400, "MessageSid is not a Twilio message id")
    refusal = tw.account_refusal(request.form, current_app.config.get("TWILIO_ACCOUNT_SID"),
                                 required=False)
    if refusal:
        log.warning("refused a signed status callback: %s", refusal)
        abort(403)
    error_code = tw.error_code_of(request.form.get("ErrorCode"))
    mid = request.args.get("mid", "")
    # Our own ids: positive and within a 64-bit integer column.
    message_id = int(mid) if mid.isdigit() and 0 < int(mid) < 2**63 else None
    update_status(current_app._get_current_object(), sid[:64], new_status[:24], error_code,
                  message_id)
    return Response(status=204)
