"""A WSGI app served on 127.0.0.1 in a background thread: the base of the fake providers
(tests/fake_twilio.py, tests/fake_smsgate.py)."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server


class LoopbackServer:
    """Serves ``self.app`` (a WSGI callable the subclass defines) on 127.0.0.1:`port` (0: any
    free port) with a thread per request. ``url`` is its base URL; use it as a context manager
    (``with Fake() as fake:``): the server runs inside the block and is closed after it."""

    def _serve(self, port: int) -> None:
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
