"""Run the app under gunicorn from code, so `essbot serve` is the one command to start."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from bot.app import create_app


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
        # One line per request (no bodies: Twilio posts form data, never logged).
        "accesslog": "-",
        # The control socket is shared by every gunicorn of the user; not needed here.
        "control_socket_disable": True,
        **extra,
    }
    _Gunicorn(options, factory).run()
