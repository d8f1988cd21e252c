"""Registry exports from the staff page: the CSV streamed and gzip-compressed (the same rows as
the file export), a large Excel export as a background job of the queue with its progress and
its file, kept to the account that asked."""

from __future__ import annotations

import csv
import gzip
import io
import re

from openpyxl import load_workbook

from bot.broadcasts.tasks import get_queue
from bot.registry.jobs import read_job, run_job
from tests.admin_helpers import csrf_token, login, make_staff
from tests.e2e.test_registry_list_browser import many


def post_export(client, accept: str = "gzip, deflate", **form):
    page = client.get("/admin/registry").data
    return client.post("/admin/registry/export", data={"csrf_token": csrf_token(page), **form},
                       headers={"Accept-Encoding": accept})


def test_csv_is_streamed_and_gzipped_for_a_browser_that_accepts_it(app, client):
    make_staff(app)
    many(app, 300)
    login(client, "agent")
    response = post_export(client, format="csv", quartier="Dravéla")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Encoding"] == "gzip"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    text = gzip.decompress(raw).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert len(rows) == 300 and rows[0]["Quartier"] == "Dravéla"
    assert len(raw) * 4 < len(text.encode())  # compressed several times over

    plain = post_export(client, accept="identity", format="csv", quartier="Dravéla")
    assert "Content-Encoding" not in plain.headers
    assert plain.get_data().decode("utf-8-sig") == text


def test_a_large_excel_export_runs_in_the_background(app, client):
    make_staff(app)
    many(app, 40)
    app.config["ESSBOT_EXPORT_INLINE_ROWS"] = 10
    login(client, "agent")
    response = post_export(client, format="xlsx", gender="homme")
    assert response.status_code == 302
    token = re.search(r"/admin/registry/export/([\w-]+)$", response.headers["Location"]).group(1)
    page = client.get(f"/admin/registry/export/{token}").get_data(as_text=True)
    assert "<progress" in page and "40 acteurs à écrire" in page
    assert client.get(f"/admin/registry/export/{token}/status").json["state"] == "queued"
    assert client.get(f"/admin/registry/export/{token}/file").status_code == 404  # not yet
    assert get_queue(app).huey.pending_count() == 1  # the worker's task is queued

    state = run_job(app, token)  # what the worker runs
    assert state["state"] == "done" and state["rows"] == 40
    status = client.get(f"/admin/registry/export/{token}/status").json
    assert (status["state"], status["percent"], status["done"]) == ("done", 100, 40)
    got = client.get(f"/admin/registry/export/{token}/file")
    assert got.status_code == 200 and "attachment" in got.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(got.data)).active
    assert sheet.max_row == 41  # the header and 40 actors
    assert read_job(app, token)["filters"] == {"gender": ["homme"]}

    # Another account learns nothing of it; an unknown or malformed token is a 404.
    other = app.test_client()
    login(other, "viewer")
    assert other.get(f"/admin/registry/export/{token}/file").status_code == 403
    assert client.get("/admin/registry/export/nope").status_code == 404
    assert client.get("/admin/registry/export/" + "a" * 43).status_code == 404


def test_a_small_excel_export_is_sent_at_once(app, client):
    make_staff(app)
    many(app, 5)
    login(client, "agent")
    response = post_export(client, format="xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
