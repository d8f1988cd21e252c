"""Browser tests of the staff interface: Playwright driving Debian's Chromium.

Chromium comes from Debian (``apt-get install chromium``, /usr/bin/chromium; ``.ci/run``
installs it); Playwright's own browser download is never used. Without Chromium or the
playwright package these tests are skipped with the reason. ``ESSBOT_CHROMIUM`` points at
another binary.

Fixtures: `site` (the app served on loopback with one staff account per role, see
tests/admin_helpers.py), `page` (a fresh 1366×768 browser tab in French), `login_as(page,
role)`, and `screenshot(page, name)` which writes <name>.png into a folder outside the clone
(pytest's temporary folder), and into docs/screenshots/ for the README only when
``ESSBOT_UPDATE_SCREENSHOTS=1`` is set: a test run leaves the clone unmodified.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.admin_helpers import EMAILS, PASSWORD, make_staff

CHROMIUM = os.environ.get("ESSBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: The README's screenshots: written only when ESSBOT_UPDATE_SCREENSHOTS=1 asks for it.
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

#: Flags for a headless Chromium on a closed network (no background calls to Google).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run (skipped without one, unless
    ESSBOT_REQUIRE_BROWSER is set, as in CI: then a missing browser fails)."""
    required = bool(os.environ.get("ESSBOT_REQUIRE_BROWSER"))
    try:
        from playwright import sync_api
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if required:
            pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(app, live_server):
    """Base URL of the app on loopback, with an admin, an agent and a viewer account."""
    app.config["ESSBOT_LOGIN_RATE"] = ""
    make_staff(app)
    return live_server


@pytest.fixture
def page(browser, site):
    """A fresh tab (own cookies) at 1366×768, French locale; `page.base` is the site URL."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="fr-FR",
                                  accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.base = site
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.js_errors = errors
    yield tab
    context.close()


@pytest.fixture
def login_as():
    """``login_as(page, role)``: log in through the form; the dashboard is then shown."""

    def do(tab, role: str = "admin"):
        tab.goto(f"{tab.base}/admin/login")
        tab.fill("#email", EMAILS[role])
        tab.fill("#password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{tab.base}/admin/**")
        assert "/admin/login" not in tab.url
        return tab

    return do


def update_screenshots() -> bool:
    """True when the run was asked to refresh docs/screenshots/ (ESSBOT_UPDATE_SCREENSHOTS=1)."""
    return os.environ.get("ESSBOT_UPDATE_SCREENSHOTS", "") == "1"


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    """Where this run's screenshots go: a temporary folder outside the clone."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def screenshot(screenshot_dir):
    """``screenshot(page, name)``: save <name>.png (full page) in the run's temporary folder,
    and also into docs/screenshots/ when ESSBOT_UPDATE_SCREENSHOTS=1; returns the temporary
    file's path."""

    def take(tab, name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        if update_screenshots():
            DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOC_SCREENSHOTS / f"{name}.png")
        return path

    return take


#: The two sizes every staff page is checked at: an office PC and a phone (CSS pixels).
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

#: axe-core's npm package, installed by the tests' setup (never a CDN) into a cache folder
#: outside the clone; ESSBOT_AXE_DIR chooses another folder.
AXE_VERSION = "4"
AXE_DIR = Path(os.environ.get("ESSBOT_AXE_DIR")
               or Path.home() / ".cache" / "essbot" / "axe-core")


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The text of axe.min.js, from npm (``npm install axe-core@4`` into AXE_DIR, once).

    Skipped without npm, or failed when ESSBOT_REQUIRE_BROWSER is set (CI)."""
    import subprocess

    script = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        problem = None
        if npm is None:
            problem = "npm is not installed (apt-get install npm)"
        else:
            AXE_DIR.mkdir(parents=True, exist_ok=True)
            done = subprocess.run([npm, "install", "--prefix", str(AXE_DIR), "--no-audit",
                                   "--no-fund", "--silent", f"axe-core@{AXE_VERSION}"],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0 or not script.exists():
                problem = f"npm install axe-core failed: {done.stderr[-500:]}"
        if problem:
            if os.environ.get("ESSBOT_REQUIRE_BROWSER"):
                pytest.fail(problem)
            pytest.skip(problem)
    return script.read_text(encoding="utf-8")


@pytest.fixture
def axe(axe_source):
    """``axe(page)``: run axe-core on the page as shown; returns the serious and critical
    violations as ``["rule-id: target, …"]`` (empty when the page passes)."""

    def check(tab) -> list[str]:
        # Through the DevTools protocol, so the page's Content-Security-Policy (no inline
        # script) does not refuse it.
        if not tab.evaluate("typeof window.axe !== 'undefined'"):
            tab.evaluate(axe_source)
        result = tab.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
        }""")
        return result

    return check


@pytest.fixture(params=["desktop", "phone"])
def sized_page(request, browser, site):
    """A fresh tab like `page`, once at 1366×768 and once at 390×844 (a phone, touch);
    `page.size` is "desktop" or "phone"."""
    phone = request.param == "phone"
    context = browser.new_context(viewport=PHONE if phone else DESKTOP, locale="fr-FR",
                                  accept_downloads=True, is_mobile=phone, has_touch=phone,
                                  device_scale_factor=1)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.base = site
    tab.size = request.param
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.js_errors = errors
    yield tab
    context.close()
