"""The baseline of bench/webhook.py: a bare Flask app that answers every POST with a constant
TwiML."""

from __future__ import annotations

import sys

from flask import Flask, Response

TWIML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Bienvenue au service ESS.'
         '</Message></Response>')


def create_bare_app() -> Flask:
    """Return a Flask app whose /webhooks/twilio/messages always answers TWIML."""
    app = Flask("bare")

    @app.post("/webhooks/twilio/messages")
    def messages():
        return Response(TWIML, mimetype="application/xml")

    return app


if __name__ == "__main__":
    from bot.server import run

    port, workers, threads = (int(x) for x in sys.argv[1:4])
    run("127.0.0.1", port, workers, threads, factory=create_bare_app)
