"""Static files of the staff pages: linked by fingerprinted names and cached for a year
(immutable); a stale or plain name is still served, without the long cache."""

from __future__ import annotations

import re

from tests.admin_helpers import login, make_staff


def test_pages_link_fingerprinted_files_cached_for_a_year(app, client):
    make_staff(app)
    login(client, "viewer")
    page = client.get("/admin/registry").get_data(as_text=True)
    links = re.findall(r'(?:href|src)="(/admin/static/[^"]+)"', page)
    assert {re.sub(r"\.[0-9a-f]{12}\.", ".", u).rsplit("/", 1)[1] for u in links} >= {
        "admin.css", "registry.css", "admin.js"}
    for url in links:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", url), url
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    stale = client.get("/admin/static/admin.0123456789ab.css")
    assert stale.status_code == 200 and "immutable" not in stale.headers["Cache-Control"]
    assert client.get("/admin/static/nothing.0123456789ab.css").status_code == 404


def test_a_changed_file_gets_a_new_name(app, tmp_path):
    from bot.admin import fingerprint

    (tmp_path / "x.css").write_text("a{}")
    first = fingerprint(str(tmp_path), "x.css")
    (tmp_path / "x.css").write_text("b{}")
    import os

    os.utime(tmp_path / "x.css", (1, 1))
    assert fingerprint(str(tmp_path), "x.css") != first
    assert fingerprint(str(tmp_path), "missing.css") == "missing.css"
