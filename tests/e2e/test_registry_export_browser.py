"""In the browser at 1366×768 and 390×844: a large Excel export shows a progress bar that
moves while the worker writes the file, then a download link; the CSV arrives compressed and
opens as the list's rows."""

from __future__ import annotations

import csv
import threading

from bot.registry.jobs import run_job
from tests.e2e.test_registry_list_browser import many


def test_a_large_export_shows_its_progress_then_the_file(app, sized_page, login_as, tmp_path,
                                                         axe):
    many(app, 2500)
    app.config["ESSBOT_EXPORT_INLINE_ROWS"] = 100
    tab = sized_page
    login_as(tab, "agent")
    tab.goto(f"{tab.base}/admin/registry")
    tab.click("text=Exporter (Excel)")
    tab.wait_for_url("**/admin/registry/export/*")
    assert "2 500 acteurs à écrire" in tab.locator("#export-job").inner_text().replace(
        "\u202f", " ")
    assert tab.locator("#export-progress").is_visible()
    assert not tab.locator("#export-download").is_visible()
    assert axe(tab) == []
    token = tab.url.rsplit("/", 1)[1]
    worker = threading.Thread(target=run_job, args=(app, token))  # what `essbot worker` does
    worker.start()
    tab.wait_for_selector("#export-download:not([hidden])", timeout=60_000)
    worker.join(60)
    assert tab.locator("#export-progress").get_attribute("value") == "100"
    with tab.expect_download() as info:
        tab.click("text=Télécharger le fichier")
    path = tmp_path / "registre.xlsx"
    info.value.save_as(path)
    from openpyxl import load_workbook

    assert load_workbook(path, read_only=True).active.max_row in (None, 2501)
    assert tab.js_errors == []


def test_the_csv_arrives_compressed(app, sized_page, login_as, tmp_path):
    many(app, 200)
    tab = sized_page
    login_as(tab, "agent")
    tab.goto(f"{tab.base}/admin/registry")
    encodings = []
    tab.on("response", lambda r: encodings.append(r.headers.get("content-encoding"))
           if "/registry/export" in r.url else None)
    with tab.expect_download() as info:
        tab.click("text=Exporter (CSV)")
    path = tmp_path / "registre.csv"
    info.value.save_as(path)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    assert len(rows) == 200
    assert encodings == ["gzip"]
