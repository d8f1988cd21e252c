"""In the browser at both sizes: once a first page is loaded, the next pages load their CSS
and JS from the browser's cache, without asking the server (fingerprinted names, a year's
cache lifetime), which on a slow office line saves about a second a page."""

from __future__ import annotations


def test_the_next_pages_ask_the_server_for_no_static_file(app, sized_page, login_as):
    seen: list[str] = []
    inner = app.wsgi_app

    def counting(environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/admin/static/"):
            seen.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app = counting
    try:
        tab = sized_page
        login_as(tab, "viewer")
        tab.goto(f"{tab.base}/admin/registry")
        tab.goto(f"{tab.base}/admin/inbox")
        seen.clear()
        for path in ("/admin/registry", "/admin/inbox", "/admin/registry"):
            tab.goto(f"{tab.base}{path}")
            assert tab.evaluate("getComputedStyle(document.body).fontFamily")  # styled
        assert seen == []
        assert tab.locator("header.top").evaluate("e => getComputedStyle(e).display") == "flex"
    finally:
        app.wsgi_app = inner
