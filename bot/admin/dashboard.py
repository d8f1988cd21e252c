"""Staff interface: Tableau de bord (issue 6, item 3) at ``/admin/``.

Anonymous counts of the ESS registry (bot/stats.py) as server-rendered SVG charts (pygal,
inline, no JavaScript: pygal's tooltip script is neither loaded nor inlined), each next to a
plain table of the same numbers (read by screen readers, copied into a spreadsheet). An
optional period filter (``?periode=30j|12m|tout``) works as a plain GET form.

Cost: on a 50,000-actor registry the numbers take about ten aggregate queries and the charts
a few tens of milliseconds: a few hundred milliseconds in all on a 2-core machine
(bench/admin.py). The registry changes much less often than staff reload the page, so the
statistics and charts are kept in a small per-process cache, per period and local date:

- while the registry is unchanged, the cached page is exact: its *fingerprint* (number of
  actor rows and latest ``updated_at``, read from an index; every write path sets
  ``updated_at``, a hard delete changes the count) is compared on each view, and entries
  expire after CACHE_SECONDS anyway;
- during a registration drive an actor row changes every few seconds (each answer updates
  it), which would recompute on nearly every view: a computation younger than
  ``ESSBOT_DASHBOARD_MAX_AGE`` seconds (default 60) is served even if the registry changed
  since, so the cost is bounded by one computation per period and minute per process. The page
  says when its statistics were computed; 0 makes them always exact.

The top numbers that move all the time (contacts, tickets, messages) are read on every view.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import pygal
import sqlalchemy as sa
from flask import Flask, current_app, flash, render_template, request
from markupsafe import Markup
from pygal.style import Style

from bot import stats as registry_stats
from bot.admin import _, bp, number, require_role
from bot.db import get_engine
from bot.models import Actor, utcnow

#: Seconds a cached computation is kept at most (it is replaced sooner when the registry
#: changes: see the module docstring).
CACHE_SECONDS = 300
#: Cached computations kept per process (periods × days).
CACHE_SIZE = 6

#: Colours of the charts: the interface's green first (admin.css --accent), then colours
#: that stay distinct for the common colour-vision deficiencies (Okabe & Ito palette).
COLORS = ("#0b6e4f", "#e69f00", "#0072b2", "#cc79a7", "#56b4e9", "#d55e00", "#009e73",
          "#f0e442", "#7a8a99")
#: The bar of APEJ's youth band stands out in the age chart.
YOUTH_COLOR = "#e69f00"

_STYLE = dict(
    background="#ffffff", plot_background="#ffffff", foreground="#1d2733",
    foreground_strong="#1d2733", foreground_subtle="#5b6776",
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif',
    label_font_size=13, major_label_font_size=13, value_font_size=13,
    value_label_font_size=13, legend_font_size=13, no_data_font_size=20,
    guide_stroke_color="#d5dbe3", major_guide_stroke_color="#d5dbe3",
    opacity="1", opacity_hover="1", transition="0s", colors=COLORS,
)
STYLE = Style(**_STYLE)
#: Rings sit in half-width cards: larger text so that it reads at the same size.
PIE_STYLE = Style(**{**_STYLE, "legend_font_size": 18})


def _strip_scripts(root: Any) -> Any:
    """pygal xml filter: drop every <script> (its tooltip config), so the page runs no
    inline script (the CSP would refuse it) and loads nothing from a CDN; and the tooltip
    data (<desc class=…> under each bar: value, coordinates), which only that script reads
    (a fifth of the page)."""
    for parent in list(root.iter()):
        for child in list(parent):
            if not isinstance(child.tag, str):
                continue
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "script" or (tag == "desc" and child.get("class")):
                parent.remove(child)
    return root


_ids = itertools.count(1)
_UUID = re.compile(r'id="chart-([0-9a-f-]{36})"')


def _values_after_bars(root: Any) -> Any:
    """pygal xml filter for horizontal bars: numbers start just after the bar's end
    (pygal centres them on it, half over the bar)."""
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.rsplit("}", 1)[-1] == "text" \
                and "value" in (node.get("class") or "").split():
            node.set("text-anchor", "start")
    return root


def _config(**options: Any) -> dict[str, Any]:
    """Options shared by every chart: no JS, no XML declaration (inline in HTML), the
    interface's fonts and colours, sizes through the viewBox (scales to its box)."""
    base = dict(js=[], disable_xml_declaration=True, value_formatter=number, style=STYLE,
                width=640, height=300, margin=8, spacing=8, truncate_label=-1,
                truncate_legend=-1, show_legend=False, print_values=True,
                no_data_text=_("Aucune donnée"), explicit_size=False, pretty_print=False,
                tooltip_fancy_mode=False, min_scale=4, max_scale=6)
    base.update(options)
    return base


def _svg(chart: Any, label: str) -> Markup:
    """Render `chart` as inline SVG markup with an accessible name (`label`)."""
    chart.add_xml_filter(_strip_scripts)

    def _name(root: Any) -> Any:
        root.set("role", "img")
        root.set("aria-label", label)
        return root

    chart.add_xml_filter(_name)
    svg = chart.render(is_unicode=True)
    # pygal scopes its stylesheet with a 36-character uuid, repeated in every rule: a short
    # id unique in the process keeps the scoping and a third of the weight.
    found = _UUID.search(svg)
    if found:
        svg = svg.replace(found.group(1), f"d{next(_ids)}")
    return Markup(svg)


def time_chart(buckets: list[registry_stats.Bucket], label: str) -> Markup:
    """Grouped bars of registrations started and confirmed per bucket."""
    chart = pygal.Bar(**_config(
        show_legend=True, legend_at_bottom=True, legend_at_bottom_columns=2, height=320,
        print_values=len(buckets) <= 13, print_values_position="top",
        x_label_rotation=0 if len(buckets) <= 13 else 40, show_minor_x_labels=True))
    chart.x_labels = [b.short or b.label for b in buckets]
    if buckets:
        chart.add(_("Commencées"), [b.started for b in buckets])
        chart.add(_("Confirmées"), [b.confirmed for b in buckets])
    return _svg(chart, label)


def bar_chart(rows: list[registry_stats.Row], label: str, *,
              highlight: str | None = None) -> Markup:
    """One horizontal bar per row, in the rows' order from the top; the row whose key is
    `highlight` gets its own colour. Rows with no entry are left out of the chart (they stay
    in the table)."""
    shown = [r for r in rows if r.count]
    top = max((r.count for r in shown), default=0)
    chart = pygal.HorizontalBar(**_config(
        height=max(120, 28 * len(shown) + 50), print_values_position="top",
        # Room on the right of the longest bar for its number.
        range=(0, top * 1.18) if top else None))
    chart.add_xml_filter(_values_after_bars)
    shown = list(reversed(shown))  # pygal draws the first label at the bottom
    chart.x_labels = [_(r.label) for r in shown]
    if shown:
        chart.add(label, [{"value": r.count, "color": YOUTH_COLOR if r.key == highlight
                           else COLORS[0]} for r in shown])
    return _svg(chart, label)


def pie_chart(rows: list[registry_stats.Row], label: str) -> Markup:
    """A ring with one slice per row that has entries, the legend beside it."""
    chart = pygal.Pie(**_config(inner_radius=0.45, show_legend=True, width=340, height=230,
                                legend_at_bottom=True, legend_at_bottom_columns=1,
                                legend_box_size=16, style=PIE_STYLE, print_values=False))
    for row in rows:
        if row.count:
            chart.add(f"{_(row.label)} ({number(row.share)} %)", row.count)
    return _svg(chart, label)


#: Which chart draws each distribution (the decade one is a table beside the ages).
CHARTS = {"kind": "pie", "gender": "pie", "age": "youth", "quartier": "hbar", "sector": "hbar",
          "protection": "hbar", "needs": "hbar"}


def render_charts(result: registry_stats.Stats) -> dict[str, Markup]:
    """The SVG of each chart of `result`, by distribution name, plus ``"time"``."""
    charts = {"time": time_chart(result.buckets, _("Inscriptions dans le temps"))}
    for name, kind in CHARTS.items():
        dist = result.distributions[name]
        title = _(dist.title)
        if kind == "pie":
            charts[name] = pie_chart(dist.rows, title)
        elif kind == "youth":
            charts[name] = bar_chart(dist.rows, title, highlight="jeunes")
        else:
            charts[name] = bar_chart(dist.rows, title)
    return charts


def _fingerprint(conn: sa.Connection) -> tuple[int, Any]:
    """(number of actor rows, latest ``updated_at``): changes whenever an entry does."""
    a = Actor.__table__
    row = conn.execute(sa.select(sa.func.count(), sa.func.max(a.c.updated_at))).one()
    return int(row[0] or 0), row[1]


_cache_lock = threading.Lock()


def dashboard_data(app: Flask, period: registry_stats.Period, now: datetime | None = None,
                   *, use_cache: bool = True) -> tuple[registry_stats.Stats, dict[str, Markup]]:
    """Statistics and charts of `app`'s registry for `period` at `now` (aware UTC).

    Returns ``(stats, charts)``. `stats.headline` is always read afresh; the rest comes from
    the per-app cache (see the module docstring) unless `use_cache` is False; `stats.now` is
    when the rest was computed.
    """
    from zoneinfo import ZoneInfo

    now = now or utcnow()
    timezone = app.config["ESSBOT_TIMEZONE"]
    max_age = float(app.config["ESSBOT_DASHBOARD_MAX_AGE"])
    cache: dict[tuple, tuple[float, tuple, registry_stats.Stats, dict[str, Markup]]] = \
        app.extensions.setdefault("essbot.dashboard_cache", {})
    key = (period.key, now.astimezone(ZoneInfo(timezone)).date())
    with get_engine(app).connect() as conn:
        # A deferred transaction on SQLite: the counts never hold the write lock.
        conn.execution_options(essbot_read_only=True)
        hit = cache.get(key) if use_cache else None
        fingerprint = None
        if hit is not None:
            age = time.monotonic() - hit[0]
            if age >= max_age:
                fingerprint = _fingerprint(conn)
            if age < max_age or (fingerprint == hit[1] and age < CACHE_SECONDS):
                return replace(hit[2], headline=registry_stats.headline(conn, now)), hit[3]
        fingerprint = fingerprint or _fingerprint(conn)
        result = registry_stats.compute(conn, period, now, timezone=timezone)
    charts = render_charts(result)
    if use_cache:
        with _cache_lock:
            cache.pop(key, None)
            cache[key] = (time.monotonic(), fingerprint, result, charts)
            while len(cache) > CACHE_SIZE:
                cache.pop(next(iter(cache)))
    return result, charts


@bp.get("/", endpoint="dashboard")
@require_role("viewer")
def index():
    """The Tableau de bord: top numbers, then each dimension as a chart and a table."""
    key = request.args.get("periode") or registry_stats.DEFAULT_PERIOD
    if key not in registry_stats.PERIODS:
        flash(_("Période inconnue : toutes les inscriptions sont affichées."), "warning")
        key = registry_stats.DEFAULT_PERIOD
    period = registry_stats.PERIODS[key]
    app = current_app._get_current_object()
    result, charts = dashboard_data(app, period)
    return render_template("admin/dashboard.html", title=_("Tableau de bord"), stats=result,
                           charts=charts, periods=registry_stats.PERIODS.values(),
                           period=period, area=registry_stats.area_name(),
                           youth=registry_stats.YOUTH_BAND, number=number)
