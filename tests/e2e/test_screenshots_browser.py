"""Browser tests leave the clone unmodified: screenshots go to a temporary folder, and
docs/screenshots/ is rewritten only when ESSBOT_UPDATE_SCREENSHOTS=1 asks for it."""

from __future__ import annotations

from tests.e2e.conftest import DOC_SCREENSHOTS


def test_a_screenshot_is_written_outside_the_clone(page, login_as, screenshot, monkeypatch):
    monkeypatch.delenv("ESSBOT_UPDATE_SCREENSHOTS", raising=False)
    before = {p.name: p.stat().st_mtime_ns for p in DOC_SCREENSHOTS.glob("*.png")}
    login_as(page, "agent")
    path = screenshot(page, "dashboard")
    assert path.exists() and path.stat().st_size > 1000
    assert DOC_SCREENSHOTS.parent.parent not in path.parents  # not inside the clone
    after = {p.name: p.stat().st_mtime_ns for p in DOC_SCREENSHOTS.glob("*.png")}
    assert after == before
