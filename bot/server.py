"""Run the app under gunicorn from code, so `essbot serve` is the one command to start."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from bot.app import create_app


def masked_query(query: str | None) -> str:
    """`query` (a URL's query string) with every value replaced by ``…``, names kept:
    ``q=%2B22376000001&page=2`` → ``q=…&page=…``. Search words, phone numbers and names sent
    in a query (/admin/registry?q=…) must not reach the access log (issue 14)."""
    if not query:
        return ""
    names = [name for name, _value in parse_qsl(query, keep_blank_values=True)]
    return "&".join(f"{name[:40]}=…" for name in names) or "…"


def _masked_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    return parts._replace(query=masked_query(parts.query), fragment="").geturl()


class AccessLogger(Logger):
    """gunicorn's logger with query strings masked (:func:`masked_query`) in the access log's
    request line (``%(r)s``), query (``%(q)s``) and referer (``%(f)s``) atoms."""

    def atoms(self, resp, req, environ, request_time):
        """gunicorn's atoms for one request, query values masked (gunicorn's Logger hook)."""
        atoms = super().atoms(resp, req, environ, request_time)
        path = str(environ.get("RAW_URI") or environ.get("PATH_INFO") or "")
        atoms["q"] = masked_query(environ.get("QUERY_STRING"))
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {_masked_url(path)} " \
                     f"{environ.get('SERVER_PROTOCOL')}"
        atoms["f"] = _masked_url(str(environ.get("HTTP_REFERER") or "-"))
        # Raw request headers and environ (``%({x}i)s``, ``%({x}e)s``) would carry the query
        # again: not offered.
        return {k: v for k, v in atoms.items() if not k.startswith("{")}


class _Gunicorn(BaseApplication):
    """A gunicorn application whose workers each build their own app (no shared pools)."""

    def __init__(self, options: dict, factory=None):
        self.options = options
        self.factory = factory
        super().__init__()

    def load_config(self) -> None:
        """Copy the options given to the constructor into gunicorn's config (gunicorn's
        BaseApplication hook)."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        """Return the WSGI app gunicorn serves: `factory()` when given, else `create_app()`."""
        if self.factory is not None:
            return self.factory()
        return create_app()


def run(host: str, port: int, workers: int, threads: int, factory=None, **extra) -> None:
    """Serve on `host`:`port` with `workers` processes of `threads` threads (gthread).

    `factory` builds the WSGI app in each worker (default: bot.app.create_app; the
    benchmark passes a bare Flask app to compare under identical settings). Blocks
    until the server stops. `extra` are further gunicorn settings (e.g.
    ``accesslog="-"``). Twilio waits 15 s at most, so a slow request is cut at 30 s.
    """
    options = {
        "bind": f"{host}:{port}", "workers": workers, "threads": threads,
        "worker_class": "gthread", "timeout": 30, "graceful_timeout": 10, "keepalive": 5,
        # One line per request (no bodies: Twilio posts form data, never logged), with the
        # query strings' values masked (AccessLogger).
        "accesslog": "-", "logger_class": AccessLogger,
        # The control socket is shared by every gunicorn of the user; not needed here.
        "control_socket_disable": True,
        **extra,
    }
    _Gunicorn(options, factory).run()
