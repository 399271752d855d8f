"""Staff screens for coalition partners: the partner list, API keys, and monthly statements.

Every view checks its permission for GET and POST alike (``core.adminkit.permission_required``);
business actions go through ``partners.services`` (keys) and ``loyalty.services`` (statements).
A new secret is rendered in the response that created it and never again (``never_cache``).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.adminkit import permission_required
from core.csvexport import csv_response
from core.errors import DomainError
from core.ratelimit import client_ip
from core.reports.charts import Series, bar_chart
from loyalty import services as loyalty_services
from loyalty.models import Partner
from loyalty.selectors.partners import statement_figures, statement_months
from partners import services
from partners.models import PartnerKey

PERM_VIEW = "loyalty.view_partner"
PERM_CHANGE = "loyalty.change_partner"
PERM_KEYS = "loyalty.manage_partner_keys"
PERM_STATEMENTS = "loyalty.view_partnerstatement"
PERM_CLOSE = "loyalty.close_statement"


@permission_required(PERM_VIEW, PERM_CHANGE)
def partner_list(request: HttpRequest) -> HttpResponse:
    partners = Partner.objects.annotate(
        live_links=Count("links", filter=Q(links__state="linked"))
    ).order_by("name")
    return render(request, "partners/admin/list.html", {"partners": partners})


@never_cache
@permission_required(PERM_KEYS)
def partner_keys(request: HttpRequest, pk: int) -> HttpResponse:
    partner = get_object_or_404(Partner, pk=pk)
    issued = None
    if request.method == "POST":
        action = request.POST.get("action")
        ip = client_ip(request)
        if action == "issue":
            issued = services.partner_key_issue(partner=partner, actor=request.user, ip=ip)
        elif action == "rotate":
            hours = 0 if request.POST.get("overlap") == "0" else 24
            issued = services.partner_key_rotate(
                partner=partner, actor=request.user, overlap=timedelta(hours=hours), ip=ip
            )
        elif action == "revoke":
            key = get_object_or_404(PartnerKey, partner=partner, key_id=request.POST.get("key_id"))
            services.partner_key_revoke(key=key, actor=request.user, ip=ip)
            messages.success(request, _("密钥 %(key)s 已吊销。") % {"key": key.key_id})
            return redirect("partners_admin:keys", pk=partner.pk)
    now = timezone.now()
    keys = [(key, key.usable(now)) for key in partner.keys.all()]
    context = {
        "partner": partner,
        "keys": keys,
        "issued_key": issued[0] if issued else None,
        "issued_secret": issued[1] if issued else None,
    }
    return render(request, "partners/admin/keys.html", context)


def _month(value: str | None) -> date:
    today = timezone.localdate()
    if not value:
        return today.replace(day=1)
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise Http404 from None


@permission_required(PERM_STATEMENTS)
def partner_statements(request: HttpRequest, pk: int) -> HttpResponse:
    """The last twelve months with a chart, and one month's statement in full."""
    partner = get_object_or_404(Partner, pk=pk)
    month = _month(request.GET.get("month"))
    months = list(reversed(statement_months(partner, today=timezone.localdate())))
    chart = bar_chart(
        chart_id="partner-statements",
        title=_("每月积分：发放与合作伙伴处消耗"),
        desc=_("近 12 个月该合作伙伴发放的积分和在该合作伙伴处净消耗的积分。"),
        labels=[m.month.strftime("%Y-%m") for m in months],
        series=[
            Series(_("发放"), [m.issued for m in months]),
            Series(_("净消耗"), [max(m.redeemed_net, 0) for m in months]),
        ],
        y_label=_("积分"),
    )
    context = {
        "partner": partner,
        "months": list(reversed(months)),
        "chart": chart,
        "statement": statement_figures(partner, month),
        "month_ended": timezone.localdate() >= _next_month(month),
    }
    return render(request, "partners/admin/statements.html", context)


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


@permission_required(PERM_STATEMENTS)
def statement_csv(request: HttpRequest, pk: int) -> HttpResponse:
    partner = get_object_or_404(Partner, pk=pk)
    figures = statement_figures(partner, _month(request.GET.get("month")))
    header = [_("合作伙伴"), _("月份"), _("发放积分"), _("消耗积分"), _("撤销/过期释放"),
              _("退款退回"), _("过期积分"), _("净积分"), _("结算单价（元）"), _("净额（元）"),
              _("记录数"), _("状态")]  # fmt: skip
    row = [partner.code, figures.month.strftime("%Y-%m"), figures.issued, figures.redeemed,
           figures.released, figures.refunded, figures.expired, figures.net_points,
           figures.point_value, figures.net_amount, figures.entries,
           _("已关闭") if figures.closed else _("未关闭")]  # fmt: skip
    return csv_response(f"statement-{partner.code}-{figures.month:%Y-%m}.csv", header, [row])


@permission_required(PERM_STATEMENTS)
def statement_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The statement as a standalone HTML page to print or save as PDF from the browser."""
    partner = get_object_or_404(Partner, pk=pk)
    figures = statement_figures(partner, _month(request.GET.get("month")))
    return render(request, "partners/admin/statement_print.html", {"statement": figures})


@require_POST
@permission_required(PERM_CLOSE)
def statement_close(request: HttpRequest, pk: int) -> HttpResponse:
    partner = get_object_or_404(Partner, pk=pk)
    month = _month(request.POST.get("month"))
    try:
        loyalty_services.partner_statement_close(
            partner=partner, month=month, actor=request.user, ip=client_ip(request)
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("%(month)s 的对账单已关闭。") % {"month": f"{month:%Y-%m}"})
    response = redirect("partners_admin:statements", pk=partner.pk)
    response["Location"] += f"?month={month:%Y-%m}"
    return response
