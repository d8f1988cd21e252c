"""The registry list's order and pager (bot/registry/query.py): sort keys read from the URL,
unknown ones ignored; page links with the first and last pages."""

from __future__ import annotations

from bot.db import session_scope
from bot.registry.query import DEFAULT_SORT, page_numbers, sort_order
from tests.admin_helpers import login, make_staff
from tests.e2e.test_registry_list_browser import many


def test_page_numbers_show_first_last_and_neighbours():
    assert page_numbers(1, 1) == [1]
    assert page_numbers(1, 3) == [1, 2, 3]
    assert page_numbers(50, 985) == [1, None, 48, 49, 50, 51, 52, None, 985]
    assert page_numbers(985, 985) == [1, None, 983, 984, 985]


def test_unknown_sort_falls_back_to_newest_first():
    assert sort_order("name")[0] == "name"
    assert sort_order("-age")[0] == "-age"
    assert sort_order("phone")[0] == DEFAULT_SORT
    assert sort_order("; DROP")[0] == DEFAULT_SORT


def test_the_list_sorts_by_age_and_keeps_it_across_pages(app, client):
    make_staff(app)
    many(app, 60)
    login(client, "viewer")
    html = client.get("/admin/registry?sort=age").get_data(as_text=True)
    assert 'aria-sort="ascending"' in html
    assert "sort=age" in html.split('class="pager"')[1]  # page links keep the order
    with session_scope(app):
        pass
    bad = client.get("/admin/registry?sort=nope&page=abc")
    assert bad.status_code == 200
