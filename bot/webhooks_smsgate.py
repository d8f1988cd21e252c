"""The SMS gateway's webhook: ``POST /webhooks/smsgate`` (SMS Gateway for Android, issue 8).

One endpoint receives every event the phone was told to send (docs/sms-gateway.md "Incoming SMS":
one registration per event, all to this URL):

- ``sms:received`` — stored, then processed (bot.conversations.handle_inbound: the same
  conversation, contact, rendering and segment accounting as Twilio SMS), then its replies are
  queued (``smsgate_send_replies``, bot/broadcasts/tasks.py) and sent by a worker through the
  gateway's REST API (bot/outbound.py) — never inside this request, which answers in
  milliseconds (the app gives up after about 5 s, docs/sms-gateway.md);
- ``sms:sent`` / ``sms:delivered`` / ``sms:failed`` — the status of a message we sent
  (bot.conversations.update_status; the failure reason is kept);
- ``system:ping`` — 200.

Answers: 503 when SMSGATE_SIGNING_KEY is unset (unsigned traffic is never accepted); 403 on a
missing, wrong or stale signature (no detail, as for Twilio); 400 with the reason on a body
that cannot be read; 200 otherwise (also for events we do not use, and for a signed SMS whose
sender is not a phone number: retrying would not help). A retried delivery of a stored SMS is
answered 200 without processing it again; its replies are queued again if still unsent (the
send is idempotent at the gateway). If the queue cannot be reached the answer is 503: the
message is stored, and the gateway's retry queues the replies.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, request

from bot.channels import smsgate as sg
from bot.conversations import handle_inbound, update_status
from bot.models import utcnow
from bot.outbound import unsent_replies
from bot.phones import InvalidPhone, mask

log = logging.getLogger(__name__)
bp = Blueprint("smsgate", __name__)


def _answer(text: str, status: int = 200) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


@bp.post("/webhooks/smsgate")
def receive() -> Response:
    """Receive one signed webhook event from the SMS gateway (see the module docstring)."""
    key = current_app.config.get("SMSGATE_SIGNING_KEY")
    if not key:
        abort(503, "SMSGATE_SIGNING_KEY is not configured")
    body = request.get_data(cache=True)
    try:
        sg.verify_signature(key, body, request.headers.get("X-Timestamp"),
                            request.headers.get("X-Signature"))
    except sg.SignatureError as exc:
        log.warning("refused a request to %s: %s", request.path, exc)
        abort(403)
    try:
        event = sg.parse_event(body)
    except sg.PayloadError as exc:
        abort(400, str(exc))
    if event.event == sg.PING:
        return _answer("ok")
    if event.event == sg.RECEIVED:
        return _received(event)
    if event.event in sg.STATUS_EVENTS:
        try:
            gateway_id, status, reason = sg.status_of(event)
        except sg.PayloadError as exc:
            abort(400, str(exc))
        changed = update_status(
            current_app._get_current_object(), gateway_id, status, None,
            sg.message_id_of(gateway_id), reason,
            owns=lambda mid, created_at: sg.is_gateway_id_of(gateway_id, mid, created_at))
        # Our message id, not the gateway's (which finds the phone in the gateway's log).
        log.info("gateway status %s for message %s (%s)", status,
                 sg.message_id_of(gateway_id) or "?", "recorded" if changed else "no change")
        return _answer("ok")
    log.info("ignored a gateway event %r", event.event)
    return _answer("ignored")


def _received(event: sg.Event) -> Response:
    app = current_app._get_current_object()
    try:
        msg = sg.to_inbound(event, utcnow(), app.config["ESSBOT_COUNTRY"])
    except sg.PayloadError as exc:
        abort(400, str(exc))
    except InvalidPhone as exc:
        # Signed by our phone but nobody to answer (an operator's alphanumeric sender).
        log.warning("ignored a gateway SMS whose sender is not a phone number: %s", exc)
        return _answer("ignored: the sender is not a phone number")
    result = handle_inbound(app, msg)
    ids = unsent_replies(app, [reply.id for reply in result.replies])
    if ids:
        from bot.broadcasts.tasks import get_queue

        try:
            get_queue(app).send_replies(ids)
        except Exception as exc:  # noqa: BLE001 — stored; the gateway's retry queues them again
            log.error("could not queue %d replies to %s (%s); asking the gateway to retry",
                      len(ids), mask(msg.address), type(exc).__name__)
            return Response("Service Unavailable: queue unavailable, retry later\n", status=503,
                            mimetype="text/plain", headers={"Retry-After": "10"})
    return _answer("duplicate" if result.duplicate else "ok")
