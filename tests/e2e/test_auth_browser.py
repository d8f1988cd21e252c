"""In the browser: log in, menus by role, every /admin page behind the login."""

from __future__ import annotations

from tests.test_admin_auth import admin_urls


def test_unauthenticated_crawl_lands_on_login(app, page):
    gets = [path for method, path in admin_urls(app) if method == "GET"
            and path != "/admin/login"]
    assert len(gets) >= 8
    for path in gets:
        page.goto(f"{page.base}{path}")
        assert "/admin/login" in page.url, path
        assert page.locator("h1").inner_text() == "Connexion"


def test_login_shows_the_menu_of_the_role(page, login_as):
    login_as(page, "viewer")
    menu = page.locator("header nav a").all_inner_texts()
    assert "Registre" in menu and "Comptes" not in menu and "Simulateur" not in menu
    page.click("text=Se déconnecter")
    page.wait_for_url("**/admin/login")
    login_as(page, "admin")
    assert "Comptes" in page.locator("header nav a").all_inner_texts()
    assert page.js_errors == []


def test_wrong_password_is_explained(page):
    page.goto(f"{page.base}/admin/login")
    page.fill("#email", "admin@mairie.test")
    page.fill("#password", "pas-le-bon")
    page.click("button[type=submit]")
    assert "incorrect" in page.locator(".flash.error").inner_text()


def test_a_post_without_the_csrf_token_is_refused(page, login_as):
    """A logged-in browser session is not enough: a form posted without its token (as a
    forged cross-site form would be) is refused and changes nothing."""
    login_as(page, "admin")
    response = page.request.post(f"{page.base}/admin/staff", form={
        "email": "intrus@mairie.test", "role": "admin", "password": "mot-de-passe-long"})
    assert response.status == 400
    assert "CSRF" in response.text()
    page.goto(f"{page.base}/admin/staff")
    assert "intrus@mairie.test" not in page.content()
