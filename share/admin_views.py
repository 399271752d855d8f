"""Staff views of sharing: per-item results and failures, with CSV export."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from core.adminkit import permission_required
from core.audit import audit_record
from core.csvexport import csv_response
from core.ratelimit import client_ip
from share import selectors
from share.models import Share

VIEW_PERMS = ("share.view_share",)


def _range(request: HttpRequest):
    today = timezone.localdate()
    start = parse_date(request.GET.get("from") or "") or today - timedelta(days=89)
    end = parse_date(request.GET.get("to") or "") or today
    if end < start:
        start, end = end, start
    tz = timezone.get_current_timezone()
    since = timezone.make_aware(timezone.datetime.combine(start, timezone.datetime.min.time()), tz)
    until = timezone.make_aware(
        timezone.datetime.combine(end + timedelta(days=1), timezone.datetime.min.time()), tz
    )
    return start, end, since, until


@permission_required(*VIEW_PERMS)
def share_stats(request: HttpRequest) -> HttpResponse:
    start, end, since, until = _range(request)
    rows = selectors.item_share_stats(since=since, until=until)
    if request.GET.get("format") == "csv":
        audit_record(
            action="share.stats_exported", actor=request.user, ip=client_ip(request),
            after={"from": start.isoformat(), "to": end.isoformat(), "rows": len(rows)},
        )  # fmt: skip
        header = [
            _("分享对象"), _("标题"), _("分享次数"), _("分享人数"), _("已发布"), _("失败"),
            _("处理中"), _("覆盖粉丝"), _("点击（独立访客/天）"), _("申请"), _("入会"),
        ]  # fmt: skip
        body = [
            [row["subject_key"], row["title"], row["shares"], row["sharers"], row["sent"],
             row["failed"], row["waiting"], row["reach"], row["clicks"], row["applied"],
             row["admitted"]]
            for row in rows
        ]  # fmt: skip
        return csv_response(f"shares-{start}-{end}.csv", header, body)
    return render(
        request,
        "share/admin/stats.html",
        {
            "rows": rows,
            "start": start,
            "end": end,
            "failures": selectors.failure_reasons(since=since),
            "recent_failed": Share.objects.filter(
                state=Share.State.FAILED, created_at__gte=since
            ).select_related("member")[:20],
        },  # fmt: skip
    )
