"""Partners' outbound webhooks (issue 21): events written with their change, signed POSTs,
retries with backoff after a failing receiver, every attempt recorded.

Runs on SQLite and, with DATABASE_URL set to PostgreSQL, there.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bot import partner_hooks
from bot.broadcasts import planner
from bot.broadcasts.tasks import get_queue
from bot.cli import main
from bot.db import get_engine
from bot.models import utcnow
from bot.models.api import WebhookAttempt, WebhookDelivery
from tests.conftest import MESSAGES_URL, inbound_params

SECRET = "s3cret-partenaire-0123456789"


class Receiver:
    """A partner's receiver on a loopback port: answers `statuses` in turn (then 200) and
    keeps every request (headers and raw body)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @Request.application
    def wsgi(self, request):
        self.requests.append((dict(request.headers), request.get_data()))
        status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok" if status < 300 else "panne", status=status)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


def deliveries(app):
    with get_engine(app).connect() as conn:
        return conn.execute(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def attempts(app):
    with get_engine(app).connect() as conn:
        return conn.execute(sa.select(WebhookAttempt).order_by(WebhookAttempt.id)).all()


def test_signature_round_trip_and_refusals():
    body = b'{"event":"ticket.opened"}'
    header = partner_hooks.signature(SECRET, int(time.time()), body)
    assert partner_hooks.verify(SECRET, header, body)
    assert not partner_hooks.verify("autre-secret-0123456789", header, body)
    assert not partner_hooks.verify(SECRET, header, body + b" ")
    old = partner_hooks.signature(SECRET, int(time.time()) - 3600, body)
    assert not partner_hooks.verify(SECRET, old, body)  # a replay an hour later
    for junk in ("", "t=abc,v1=00", "v1=00", "nimporte"):
        assert not partner_hooks.verify(SECRET, junk, body)


def test_registration_confirmed_is_delivered_after_a_failing_receiver(app, signed_post):
    """The receiver fails twice (500, then 503): the delivery is retried after the backoff,
    delivered on the third attempt, every attempt recorded, and the body's signature checks
    with the shared secret."""
    app.config.update(ESSBOT_WEBHOOK_RETRY_BASE=10.0, ESSBOT_WEBHOOK_RETRY_MAX=3600.0)
    with Receiver([500, 503]) as receiver:
        partner_hooks.add_subscription(app, receiver.url, SECRET, ["registration.confirmed"])
        for text in ["Bonjour, je veux m'inscrire", "1", "oui", "1", "Awa Traoré", "femme",
                     "1990", "Badialan 1", "4", "vente de tissus", "non", "1", "OUI"]:
            assert signed_post(MESSAGES_URL, inbound_params(text, phone="+22376300001")) \
                .status_code == 200
        [delivery] = deliveries(app)
        assert delivery.event == "registration.confirmed" and delivery.state == "pending"
        data = delivery.payload["data"]
        assert data["registration_code"].startswith("ESS3-") and data["quartier"] == "Badialan I"
        assert "Awa" not in json.dumps(delivery.payload) and "22376300001" not in \
            json.dumps(delivery.payload)

        now = utcnow()
        delay1 = partner_hooks.deliver(app, delivery.id, now)
        assert 5.0 <= delay1 <= 10.0  # base 10 s with jitter in [50 %, 100 %]
        # Not due yet: nothing is posted.
        assert partner_hooks.deliver(app, delivery.id, now + timedelta(seconds=1)) is None
        assert len(receiver.requests) == 1
        delay2 = partner_hooks.deliver(app, delivery.id, now + timedelta(seconds=delay1 + 1))
        assert 10.0 <= delay2 <= 20.0  # doubled
        later = now + timedelta(seconds=delay1 + delay2 + 2)
        assert partner_hooks.deliver(app, delivery.id, later) is None
        assert partner_hooks.deliver(app, delivery.id, later + timedelta(hours=1)) is None

    [delivery] = deliveries(app)
    assert delivery.state == "delivered" and delivery.attempts == 3
    assert [(a.number, a.status_code, a.error) for a in attempts(app)] == [
        (1, 500, "http 500"), (2, 503, "http 503"), (3, 200, None)]
    assert len(receiver.requests) == 3
    headers, body = receiver.requests[-1]
    assert headers["X-Essbot-Event"] == "registration.confirmed"
    assert headers["X-Essbot-Delivery"] == delivery.payload["id"]
    assert partner_hooks.verify(SECRET, headers["X-Essbot-Signature"], body)
    assert json.loads(body) == delivery.payload


def test_a_receiver_that_never_answers_ends_failed_after_the_last_attempt(app):
    app.config.update(ESSBOT_WEBHOOK_MAX_ATTEMPTS=3, ESSBOT_WEBHOOK_TIMEOUT=0.5)
    # Nothing listens on this port: connection refused at every attempt.
    with Receiver() as receiver:
        url = receiver.url
    partner_hooks.add_subscription(app, url, SECRET, [])
    # An announcement to nobody (no contact yet) finishes as soon as it starts.
    planner_id = planner.create(app, title="Vide", text_fr="Personne.",
                                segment={"quartier": ["Badialan I"]})
    planner.start(app, planner_id)
    assert planner.finish_if_done(app, planner_id) == "sent"
    [delivery] = deliveries(app)
    assert delivery.event == "announcement.finished"
    assert delivery.payload["data"]["announcement_id"] == planner_id
    now = utcnow()
    for hours in range(3):
        partner_hooks.deliver(app, delivery.id, now + timedelta(hours=hours * 2))
    [delivery] = deliveries(app)
    assert delivery.state == "failed" and delivery.attempts == 3
    assert [a.error for a in attempts(app)] == ["connection"] * 3


def test_ticket_opened_goes_through_the_queue_tick(app, signed_post):
    """The worker's tick queues due deliveries on the broadcast queue (huey) and the task
    makes the attempt; a test phone of the simulator sends nothing."""
    with Receiver() as receiver:
        partner_hooks.add_subscription(app, receiver.url, SECRET, ["ticket.opened"])
        for text in ("Bonjour", "1", "AGENT"):
            signed_post(MESSAGES_URL, inbound_params(text, phone="+22376300002"))
        [delivery] = deliveries(app)
        assert delivery.event == "ticket.opened"
        queue = get_queue(app)
        queue.huey.immediate = True  # run tasks in this thread, as a worker would
        summary = queue.tick()
        assert summary["requeued"] >= 1
        assert len(receiver.requests) == 1
    [delivery] = deliveries(app)
    assert delivery.state == "delivered"
    headers, body = receiver.requests[0]
    assert partner_hooks.verify(SECRET, headers["X-Essbot-Signature"], body)
    assert json.loads(body)["data"]["reason"] == "asked"


def test_no_subscriber_no_delivery_and_a_removed_subscription_stops(app, signed_post):
    signed_post(MESSAGES_URL, inbound_params("AGENT", phone="+22376300003"))
    assert deliveries(app) == []
    sid = partner_hooks.add_subscription(app, "https://partenaire.example.org/h", SECRET, [])
    signed_post(MESSAGES_URL, inbound_params("AGENT", phone="+22376300004"))
    assert len(deliveries(app)) == 1
    assert partner_hooks.remove_subscription(app, sid)
    assert [d.state for d in deliveries(app)] == ["failed"]
    assert partner_hooks.list_subscriptions(app)[0]["active"] is False


@pytest.mark.parametrize("url,secret,events,message", [
    ("ftp://x.example.org", SECRET, [], "adresse invalide"),
    ("https://x.example.org", "court", [], "secret"),
    ("https://x.example.org", SECRET, ["ticket.closed"], "événement inconnu"),
])
def test_bad_subscriptions_are_refused_in_french(app, url, secret, events, message):
    with pytest.raises(partner_hooks.SubscriptionError, match=message):
        partner_hooks.add_subscription(app, url, secret, events)


def test_cli_manages_subscriptions(app, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    added = CliRunner().invoke(main, ["webhook", "add", "--url", "https://p.example.org/h",
                                      "--secret", SECRET, "--event", "ticket.opened"])
    assert added.exit_code == 0 and "abonnement 1 créé" in added.output
    listed = CliRunner().invoke(main, ["webhook", "list"])
    assert "https://p.example.org/h" in listed.output and SECRET not in listed.output
    bad = CliRunner().invoke(main, ["webhook", "add", "--url", "x", "--secret", SECRET])
    assert bad.exit_code != 0 and "adresse invalide" in bad.output
    removed = CliRunner().invoke(main, ["webhook", "remove", "1"])
    assert removed.exit_code == 0 and "retiré" in removed.output
