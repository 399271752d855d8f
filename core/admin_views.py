"""The audit log viewer: filterable, paginated, exportable; read-only for everyone."""

from __future__ import annotations

from datetime import date, datetime, time

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from core.adminkit import permission_required
from core.audit import audit_resolve, audit_seal, audit_subject_pseudonyms
from core.csvexport import csv_response
from core.models import AuditEntry

PERM_VIEW_AUDIT = "core.view_auditentry"
EXPORT_LIMIT = 100_000


def _day(value: str, end: bool = False):
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return timezone.make_aware(datetime.combine(day, time.max if end else time.min))


def filtered_entries(params) -> tuple:
    entries = AuditEntry.objects.select_related("actor").order_by("-id")
    filters = {
        "action": (params.get("action") or "").strip(),
        "actor": (params.get("actor") or "").strip(),
        "target": (params.get("target") or "").strip(),
        "from": (params.get("from") or "").strip(),
        "to": (params.get("to") or "").strip(),
    }
    if filters["action"]:
        entries = entries.filter(action__icontains=filters["action"])
    # People and objects are stored as pseudonyms: a name matches through their current label.
    if filters["actor"]:
        entries = entries.filter(
            Q(actor_label__icontains=filters["actor"])
            | Q(actor_label__in=audit_subject_pseudonyms(filters["actor"]))
        )
    if filters["target"]:
        entries = entries.filter(
            Q(target_label__in=audit_subject_pseudonyms(filters["target"]))
            | Q(target_type__icontains=filters["target"])
            | Q(target_id=filters["target"])
        )
    if start := _day(filters["from"]):
        entries = entries.filter(created_at__gte=start)
    if end := _day(filters["to"], end=True):
        entries = entries.filter(created_at__lte=end)
    return entries, filters


@permission_required(PERM_VIEW_AUDIT)
def audit_log(request: HttpRequest) -> HttpResponse:
    audit_seal(wait=False)  # show entries chained, not waiting for the next beat
    entries, filters = filtered_entries(request.GET)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    page.object_list = audit_resolve(page.object_list)  # pseudonyms → current labels, one query
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "core/admin/audit_log.html",
                  {"page": page, "filters": filters, "query": query.urlencode()})  # fmt: skip


@permission_required(PERM_VIEW_AUDIT)
def audit_export(request: HttpRequest) -> HttpResponse:
    """CSV of the filtered entries; the export itself is recorded in the trail."""
    from core.audit import audit_record
    from core.ratelimit import client_ip

    audit_seal(wait=False)
    entries, filters = filtered_entries(request.GET)
    rows = [
        [e.pk, timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M:%S"), e.actor_name,
         e.action, e.target_type, e.target_id, e.target_name, e.before_shown, e.after_shown,
         e.reason, e.ip or "", e.entry_hash]
        for e in audit_resolve(entries[:EXPORT_LIMIT])
    ]  # fmt: skip
    audit_record(action="audit.exported", actor=request.user, target="audit log",
                 after={"filters": filters, "rows": len(rows)}, ip=client_ip(request))  # fmt: skip
    return csv_response(
        "audit-log.csv",
        ["id", "time", "actor", "action", "target_type", "target_id", "target", "before",
         "after", "reason", "ip", "hash"],
        rows,
    )  # fmt: skip
