"""The dashboard's admin views and its panel on the admin home.

Permission first, cache second: a chart's rows are cached under a key naming only the chart,
the range and the day, so two staff members asking for the same chart share them — which is
safe because each request is checked against the chart's permissions before the cache is
read, and a chart's rows never depend on who asks.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from wagtail.admin.ui.components import Component

from core.adminkit import forbidden, has_any_perm
from core.csvexport import csv_response
from core.reports.catalogue import (
    CHARTS,
    CHARTS_BY_SLUG,
    HEADLINES,
    Chart,
    Table,
    matrix,
)
from core.reports.charts import NARROW_WIDTH, number, sparkline
from core.reports.periods import PRESETS, Period, last_days, period_from_params

# Long enough to absorb a team opening the dashboard together, short enough that today's
# numbers move while someone watches.
CACHE_SECONDS = 300
HEADLINE_DAYS = 30


def cache_key(name: str, period: Period) -> str:
    return f"reports:v1:{name}:{period.key()}:{timezone.localdate().isoformat()}"


def cached_rows(name: str, selector: Callable[[Period], list[dict]], period: Period) -> list:
    """The selector's rows for the period, from Redis when another request computed them."""
    key = cache_key(name, period)
    rows = cache.get(key)
    if rows is None:
        rows = selector(period)
        cache.set(key, rows, CACHE_SECONDS)
    return rows


def chart_data(chart: Chart, period: Period) -> dict[str, list[dict]]:
    return {
        table.name: cached_rows(f"{chart.slug}:{table.name}", table.selector, period)
        for table in chart.tables
    }


def visible_charts(user) -> list[Chart]:
    return [chart for chart in CHARTS if has_any_perm(user, chart.perms)]


def _section(chart: Chart, period: Period) -> dict:
    data = chart_data(chart, period)
    tables = []
    for table in chart.tables:
        header, body = matrix(table, data[table.name])
        csv_url = f"{reverse('club_report', args=[chart.slug])}?{period.query()}&format=csv"
        if len(chart.tables) > 1:
            csv_url += f"&table={table.name}"
        rows = [
            [{"value": value, "num": isinstance(value, int | float)} for value in row]
            for row in body
        ]
        tables.append({"table": table, "header": header, "rows": rows, "csv_url": csv_url})
    figures = zip(chart.draw(chart, data), chart.draw(chart, data, NARROW_WIDTH), strict=True)
    return {"chart": chart, "figures": list(figures), "tables": tables}


def _range_context(request: HttpRequest, period: Period) -> dict:
    presets = [
        {"days": days, "active": period == last_days(days),
         "label": _("最近 %(days)s 天") % {"days": days}}
        for days in PRESETS
    ]  # fmt: skip
    return {"period": period, "presets": presets}


def reports_index(request: HttpRequest) -> HttpResponse:
    charts = visible_charts(request.user)
    if not charts:
        return forbidden(request)
    period = period_from_params(request.GET)
    context = {
        "sections": [_section(chart, period) for chart in charts],
        "page_title": _("数据看板"),
        "form_action": reverse("club_reports"),
        **_range_context(request, period),
    }
    return render(request, "core/reports/index.html", context)


def report_chart(request: HttpRequest, slug: str) -> HttpResponse:
    chart = CHARTS_BY_SLUG.get(slug)
    if chart is None:
        raise Http404
    if not has_any_perm(request.user, chart.perms):
        return forbidden(request)
    period = period_from_params(request.GET)
    if request.GET.get("format") == "csv":
        return _export(request, chart, chart.table(request.GET.get("table")), period)
    context = {
        "sections": [_section(chart, period)],
        "page_title": str(chart.title),
        "form_action": reverse("club_report", args=[chart.slug]),
        "single": True,
        **_range_context(request, period),
    }
    return render(request, "core/reports/index.html", context)


def _export(request: HttpRequest, chart: Chart, table: Table, period: Period) -> HttpResponse:
    """The table's numbers as CSV (the same cells as the page's table); the export is audited."""
    from core.audit import audit_record
    from core.ratelimit import client_ip

    rows = cached_rows(f"{chart.slug}:{table.name}", table.selector, period)
    header, body = matrix(table, rows)
    audit_record(
        action="reports.exported", actor=request.user, target=f"report:{chart.slug}",
        after={"chart": chart.slug, "table": table.name, "from": period.start.isoformat(),
               "to": period.end.isoformat(), "rows": len(body)},
        ip=client_ip(request),
    )  # fmt: skip
    filename = f"{chart.slug}-{table.name}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return csv_response(filename, header, body)


class DashboardPanel(Component):
    """Headline numbers with a 30-day sparkline on the admin home, each linking to its chart."""

    name = "club_dashboard"
    order = 60
    template_name = "core/reports/home_panel.html"

    def __init__(self, headlines: list) -> None:
        self.headlines = headlines

    def get_context_data(self, parent_context=None):
        period = last_days(HEADLINE_DAYS)
        items = []
        for headline in self.headlines:
            rows = cached_rows(f"headline:{headline.key}", headline.selector, period)
            values = [row["value"] for row in rows]
            value = sum(values) if headline.total else (values[-1] if values else 0)
            items.append({
                "key": headline.key, "label": headline.label, "value": number(value),
                "exact": value,
                "url": f"{reverse('club_report', args=[headline.chart])}?days={HEADLINE_DAYS}",
                "svg": sparkline(values, chart_id=f"sparkline-{headline.key}",
                                 title=_("%(label)s：最近 %(days)s 天每天的数字") % {
                                     "label": headline.label, "days": HEADLINE_DAYS}),
            })  # fmt: skip
        return {"items": items, "reports_url": reverse("club_reports")}


def dashboard_panel_for(request: HttpRequest) -> DashboardPanel | None:
    """The home panel with the headlines this user may see; None when there are none."""
    headlines = [
        headline
        for headline in HEADLINES
        if has_any_perm(request.user, CHARTS_BY_SLUG[headline.chart].perms)
    ]
    return DashboardPanel(headlines) if headlines else None
