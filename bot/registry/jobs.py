"""Background export jobs: a large Excel export of the registry runs in the queue's worker
(huey task ``registry_export``, registered by bot.broadcasts.tasks.BroadcastQueue) while the
staff page shows a progress bar, then offers the file.

A job is two files in ``<instance>/exports/`` (a folder that the web app and the worker share,
as they do on one machine; with a worker elsewhere the instance folder must be shared):
``<token>.json``, its state, and
``<token>.<format>``, the file when done. The token is random (32 URL-safe characters), and
the state names the staff account that asked: only that account (or an admin) reads it. Jobs
and their files are removed JOB_TTL_SECONDS after they were asked for, at the next job's
creation. The state is written atomically (a temporary file renamed), so the page never reads
half a file.

State keys: ``state`` (queued, running, done, failed), ``done`` and ``total`` (rows),
``format``, ``filters`` (RegistryFilter.as_dict-like: the GET parameters), ``staff_id``,
``created`` (UNIX seconds), ``download_name``, and ``error`` (a French sentence) when failed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from bot.registry.export import FORMATS, export_actors
from bot.registry.query import RegistryFilter

log = logging.getLogger(__name__)

#: Seconds a job and its file are kept (time enough to download it).
JOB_TTL_SECONDS = 3600
#: Rows written between two updates of the progress state.
PROGRESS_EVERY = 1000
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class JobNotFound(LookupError):
    """No job with that token (never made, expired, or a malformed token)."""


def jobs_dir(app: Any) -> Path:
    """The folder of export jobs of `app` (created if missing)."""
    folder = Path(app.instance_path) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _state_path(app: Any, token: str) -> Path:
    if len(token) != 43 or not set(token) <= _TOKEN_CHARS:
        raise JobNotFound(token)
    return jobs_dir(app) / f"{token}.json"


def _write(path: Path, state: dict[str, Any]) -> None:
    spare = path.with_suffix(".tmp")
    spare.write_text(json.dumps(state), encoding="utf-8")
    os.replace(spare, path)


def read_job(app: Any, token: str) -> dict[str, Any]:
    """The state of job `token` (see the module docstring). Raises JobNotFound."""
    path = _state_path(app, token)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        raise JobNotFound(token) from None


def job_file(app: Any, token: str) -> Path:
    """The finished file of job `token`. Raises JobNotFound when missing."""
    state = read_job(app, token)
    path = jobs_dir(app) / f"{token}.{state['format']}"
    if state.get("state") != "done" or not path.exists():
        raise JobNotFound(token)
    return path


def create_job(app: Any, fmt: str, filters: dict[str, Any], *, staff_id: int | None,
               total: int, download_name: str) -> str:
    """Record a queued export job of `fmt` ("csv" or "xlsx") for the GET-style `filters`
    (what RegistryFilter.from_args reads); returns its token. Old jobs are swept first.
    Raises ValueError on an unknown format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    sweep(app)
    token = secrets.token_urlsafe(32)
    _write(_state_path(app, token), {
        "state": "queued", "done": 0, "total": int(total), "format": fmt, "filters": filters,
        "staff_id": staff_id, "created": time.time(), "download_name": download_name})
    return token


def sweep(app: Any, now: float | None = None) -> int:
    """Remove the jobs (state and file) older than JOB_TTL_SECONDS; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    for path in jobs_dir(app).glob("*.json"):
        try:
            created = json.loads(path.read_text(encoding="utf-8")).get("created", 0)
        except (OSError, ValueError):
            created = 0
        if now - float(created or 0) > JOB_TTL_SECONDS:
            for other in path.parent.glob(f"{path.stem}.*"):
                other.unlink(missing_ok=True)
            removed += 1
    return removed


class _Progress:
    """export_actors' progress callback: writes ``done`` every PROGRESS_EVERY rows."""

    def __init__(self, path: Path, state: dict[str, Any]):
        self.path, self.state, self.seen = path, state, 0

    def update(self, n: int) -> None:
        self.seen += n
        if self.seen % PROGRESS_EVERY == 0:
            self.state["done"] = self.seen
            _write(self.path, self.state)

    def render_finish(self) -> None:
        self.state["done"] = self.seen


def run_job(app: Any, token: str) -> dict[str, Any]:
    """Run job `token` (what the worker's ``registry_export`` task does): write the export,
    updating its progress, and return the final state ("done" with ``rows``, or "failed"
    with a French ``error``). A job already done or gone is left as it is."""
    path = _state_path(app, token)
    try:
        state = read_job(app, token)
    except JobNotFound:
        log.warning("export job %s… is gone", token[:6])
        return {"state": "gone"}
    if state.get("state") == "done":
        return state
    filt, errors = RegistryFilter.from_args(state.get("filters") or {})
    state.update(state="running", done=0)
    _write(path, state)
    output = jobs_dir(app) / f"{token}.{state['format']}"
    progress = _Progress(path, state)

    def start(total: int) -> _Progress:
        state["total"] = total
        return progress

    try:
        if errors:
            raise ValueError(" ".join(errors))
        partial = output.with_suffix(".part")
        rows = export_actors(app, state["format"], str(partial), labels=True, filt=filt,
                             progress=start)
        os.replace(partial, output)
        state.update(state="done", done=rows, rows=rows)
    except Exception as exc:  # noqa: BLE001 — the page must say it failed, not spin forever
        log.error("export job %s… failed: %s", token[:6], type(exc).__name__)
        state.update(state="failed", error="L'export a échoué ; réessayez ou prévenez "
                                           "l'administrateur (journal du serveur).")
    _write(path, state)
    return state
