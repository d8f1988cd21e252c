"""`essbot serve` on the embedded defaults: gunicorn up, SQLite migrated, webhook answering."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import requests

from tests.conftest import AUTH_TOKEN, load_sample


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_migrates_sqlite_and_answers_twilio(tmp_path):
    port = free_port()
    env = dict(os.environ, ESSBOT_INSTANCE_PATH=str(tmp_path), TWILIO_AUTH_TOKEN=AUTH_TOKEN,
               ESSBOT_PUBLIC_URL="https://essbot.example.org")
    env.pop("DATABASE_URL", None)  # the embedded default: SQLite in the instance folder
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port),
                             "--workers", "1", "--threads", "2"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                if requests.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.time() < deadline, (
                (tmp_path / "serve.log").read_text())
            time.sleep(0.2)
        sample = load_sample("sms-inbound-french")
        resp = requests.post(base + "/webhooks/twilio/messages", data=sample["params"],
                             headers={"X-Twilio-Signature": sample["x_twilio_signature"]},
                             timeout=10)
        assert resp.status_code == 200 and "<Message" in resp.text
        assert requests.post(base + "/webhooks/twilio/messages", data=sample["params"],
                             timeout=10).status_code == 403
        # A search by phone or name (issue 14): the access log keeps the parameter names only.
        requests.get(base + "/admin/registry?q=%2B22376000001&quartier=Sam%C3%A9", timeout=10,
                     headers={"Referer": f"{base}/admin/registry?q=Awa+Traor%C3%A9"})
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
    assert (tmp_path / "essbot.db").exists()
    logged = (tmp_path / "serve.log").read_text()
    assert "+22370000001" not in logged and sample["params"]["Body"] not in logged
    assert "GET /admin/registry?q=…&quartier=… HTTP/1.1" in logged
    assert "22376000001" not in logged and "Traor" not in logged and "Sam" not in logged


def test_readyz_reports_an_unreachable_database(tmp_path, monkeypatch):
    from bot import create_app

    monkeypatch.setenv("ESSBOT_INSTANCE_PATH", str(tmp_path))
    app = create_app({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503 and resp.json["status"] == "unavailable"
    assert app.test_client().get("/healthz").status_code == 200
