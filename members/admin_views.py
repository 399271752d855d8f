"""Staff screens of the club in the Wagtail admin: applications, members, invitations, imports.

Every view checks the Django model permission it needs (GET and POST alike) and answers 403
without it. Business actions go through ``members.services``; a ``DomainError`` becomes an
error message for the staff member, never a half-done change.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.adminkit import forbidden, permission_required
from core.csvexport import csv_response
from core.errors import DomainError
from core.models import AuditEntry
from core.ratelimit import client_ip
from members import services
from members.admin_forms import (
    CustomerImportForm,
    InvitationBatchForm,
    MemberFilterForm,
    ReasonForm,
)
from members.models import (
    AdmissionDecision,
    Application,
    CustomerImport,
    InvitationCode,
    Member,
)

PER_PAGE = 50
RECENT_DECISIONS = 50
MAX_LISTED_CODES = 1000
MAX_LISTED_ERRORS = 1000
AUDIT_ENTRIES_SHOWN = 200

PERM_APPLICATIONS = "members.change_application"
PERM_VIEW_MEMBER = "members.view_member"
PERM_CHANGE_MEMBER = "members.change_member"
PERM_VIEW_INVITATIONS = "members.view_invitationcode"
PERM_ADD_INVITATIONS = "members.add_invitationcode"
PERM_VIEW_IMPORTS = "members.view_customerimport"
PERM_ADD_IMPORTS = "members.add_customerimport"


def _page(request: HttpRequest, queryset):
    return Paginator(queryset, PER_PAGE).get_page(request.GET.get("p"))


# --- Applications -------------------------------------------------------------------------------


@permission_required(PERM_APPLICATIONS)
def application_queue(request: HttpRequest) -> HttpResponse:
    pending = (
        Application.objects.filter(state=Application.State.PENDING)
        .select_related("member")
        .order_by("submitted_at", "pk")
    )
    page = _page(request, pending)
    rows = [(page.start_index() + index, application) for index, application in enumerate(page)]
    decided = (
        Application.objects.exclude(state=Application.State.PENDING)
        .select_related("member")
        .prefetch_related(
            Prefetch(
                "member__decisions",
                queryset=AdmissionDecision.objects.filter(
                    route=AdmissionDecision.Route.APPROVAL
                ).select_related("actor"),
                to_attr="approval_decisions",
            )
        )
        .order_by(F("decided_at").desc(nulls_last=True), "-pk")[:RECENT_DECISIONS]
    )
    return render(
        request,
        "members/admin/application_queue.html",
        {"page": page, "rows": rows, "decided": decided},
    )


@permission_required(PERM_APPLICATIONS)
@require_POST
def application_decide(request: HttpRequest, pk: int) -> HttpResponse:
    application = get_object_or_404(Application.objects.select_related("member"), pk=pk)
    decision = request.POST.get("decision")
    back = redirect("members_admin:applications")
    if decision not in ("approve", "reject"):
        messages.error(request, _("请选择通过或拒绝。"))
        return back
    approve = decision == "approve"
    try:
        services.application_decide(
            application=application,
            approve=approve,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            ip=client_ip(request),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return back
    name = str(application.member)
    if approve:
        messages.success(request, _("已通过 %(name)s 的入会申请。") % {"name": name})
    else:
        messages.success(request, _("已拒绝 %(name)s 的入会申请。") % {"name": name})
    return back


# --- Members ------------------------------------------------------------------------------------


@permission_required(PERM_VIEW_MEMBER)
def member_list(request: HttpRequest) -> HttpResponse:
    form = MemberFilterForm(request.GET or None)
    members = Member.objects.select_related("tier", "user").order_by("-created_at", "-pk")
    if form.is_bound:
        form.is_valid()
        filters = getattr(form, "cleaned_data", {})
        query = (filters.get("q") or "").strip()
        if query:
            members = members.filter(
                Q(display_name__icontains=query)
                | Q(weibo_screen_name__icontains=query)
                | Q(membership_number__icontains=query)
            )
        if filters.get("state"):
            members = members.filter(state=filters["state"])
        if filters.get("tier"):
            members = members.filter(tier=filters["tier"])
    page = _page(request, members)
    return render(request, "members/admin/member_list.html", {"form": form, "page": page})


@permission_required(PERM_VIEW_MEMBER)
def member_detail(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(
        Member.objects.select_related("tier", "user", "invited_by", "application"), pk=pk
    )
    audit_entries = AuditEntry.objects.filter(
        target_type="members.Member", target_id=str(member.pk)
    ).order_by("-id")[:AUDIT_ENTRIES_SHOWN]
    context = {
        "member": member,
        "application": getattr(member, "application", None),
        "consents": member.consents.select_related("text").order_by("-accepted_at"),
        "decisions": member.decisions.select_related("actor").order_by("-created_at"),
        "audit_entries": audit_entries,
        "can_change": request.user.has_perm(PERM_CHANGE_MEMBER),
        "can_suspend": member.state == Member.State.MEMBER,
        "can_reinstate": member.state == Member.State.SUSPENDED,
        "suspend_form": ReasonForm(prefix="suspend"),
        "reinstate_form": ReasonForm(prefix="reinstate"),
    }
    return render(request, "members/admin/member_detail.html", context)


def _member_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    member = get_object_or_404(Member, pk=pk)
    back = redirect("members_admin:member_detail", pk=member.pk)
    reason = request.POST.get(f"{action}-reason", "")
    try:
        if action == "suspend":
            if member.state != Member.State.MEMBER:
                raise DomainError(_("只能暂停正式会员。"))
            services.member_suspend(
                member=member, actor=request.user, reason=reason, ip=client_ip(request)
            )
            messages.success(request, _("已暂停 %(name)s 的会员资格。") % {"name": member})
        else:
            services.member_reinstate(
                member=member, actor=request.user, reason=reason, ip=client_ip(request)
            )
            messages.success(request, _("已恢复 %(name)s 的会员资格。") % {"name": member})
    except DomainError as error:
        messages.error(request, error.message)
    return back


@permission_required(PERM_CHANGE_MEMBER)
@require_POST
def member_suspend(request: HttpRequest, pk: int) -> HttpResponse:
    return _member_action(request, pk, "suspend")


@permission_required(PERM_CHANGE_MEMBER)
@require_POST
def member_reinstate(request: HttpRequest, pk: int) -> HttpResponse:
    return _member_action(request, pk, "reinstate")


# --- Invitation codes ---------------------------------------------------------------------------


@permission_required(PERM_VIEW_INVITATIONS, PERM_ADD_INVITATIONS)
def invitation_list(request: HttpRequest) -> HttpResponse:
    codes = InvitationCode.objects.select_related("created_by", "inviter").order_by(
        "-created_at", "-pk"
    )
    can_view = request.user.has_perm(PERM_VIEW_INVITATIONS)
    if not can_view:
        # Creating codes does not entitle anyone to read other people's codes.
        codes = codes.filter(created_by=request.user)
    batch = request.GET.get("batch")
    if batch is not None:
        codes = codes.filter(batch=batch)
    context = {
        "page": _page(request, codes),
        "batch": batch,
        "can_add": request.user.has_perm(PERM_ADD_INVITATIONS),
        "can_view": can_view,
        "now": timezone.now(),
    }
    return render(request, "members/admin/invitation_list.html", context)


@permission_required(PERM_ADD_INVITATIONS)
def invitation_batch_create(request: HttpRequest) -> HttpResponse:
    form = InvitationBatchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.invitation_batch_create(
                actor=request.user,
                count=form.cleaned_data["count"],
                max_uses=form.cleaned_data["max_uses"],
                expires_at=form.expires_at(),
                batch=form.cleaned_data["batch"],
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _("已生成 %(count)s 个邀请码（批次 %(batch)s）。")
                % {"count": len(codes), "batch": form.cleaned_data["batch"]},
            )
            url = reverse("members_admin:invitation_batch")
            return redirect(f"{url}?{urlencode({'batch': form.cleaned_data['batch']})}")
    return render(request, "members/admin/invitation_create.html", {"form": form})


def _batch_codes(request: HttpRequest, batch: str):
    codes = InvitationCode.objects.filter(batch=batch).select_related("created_by", "inviter")
    if not request.user.has_perm(PERM_VIEW_INVITATIONS):
        codes = codes.filter(created_by=request.user)
    return codes.order_by("pk")


@permission_required(PERM_VIEW_INVITATIONS, PERM_ADD_INVITATIONS)
def invitation_batch(request: HttpRequest) -> HttpResponse:
    batch = request.GET.get("batch", "")
    codes = _batch_codes(request, batch)
    total = codes.count()
    context = {
        "batch": batch,
        "codes": codes[:MAX_LISTED_CODES],
        "total": total,
        "truncated": total > MAX_LISTED_CODES,
        "export_query": urlencode({"batch": batch}),
        "can_view": request.user.has_perm(PERM_VIEW_INVITATIONS),
    }
    return render(request, "members/admin/invitation_batch.html", context)


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


@permission_required(PERM_VIEW_INVITATIONS, PERM_ADD_INVITATIONS)
def invitation_export(request: HttpRequest) -> HttpResponse:
    batch = request.GET.get("batch", "")
    codes = _batch_codes(request, batch)
    header = [_("邀请码"), _("批次"), _("可用次数"), _("已用次数"), _("有效期至"), _("创建时间"),
              _("创建人"), _("作废时间")]  # fmt: skip
    rows = (
        [
            code.code,
            code.batch,
            code.max_uses,
            code.uses,
            _local(code.expires_at),
            _local(code.created_at),
            code.created_by.get_username() if code.created_by else "",
            _local(code.revoked_at),
        ]
        for code in codes.iterator(chunk_size=2000)
    )
    safe_name = re.sub(r"[^\w.-]+", "_", batch).strip("._") or "invitations"
    return csv_response(f"invitations-{safe_name}.csv", header, rows)


# --- Customer list imports ----------------------------------------------------------------------


@permission_required(PERM_VIEW_IMPORTS, PERM_ADD_IMPORTS)
def import_list(request: HttpRequest) -> HttpResponse:
    can_add = request.user.has_perm(PERM_ADD_IMPORTS)
    form = CustomerImportForm()
    if request.method == "POST":
        if not can_add:
            return forbidden(request)
        form = CustomerImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = services.customer_import_create(
                    actor=request.user, file_name=upload.name, content=upload.read()
                )
            except DomainError as error:
                form.add_error("file", error.message)
            else:
                messages.success(request, _("文件已上传，正在后台导入。"))
                return redirect("members_admin:import_detail", pk=job.pk)
    imports = (
        CustomerImport.objects.select_related("uploaded_by")
        .defer("content", "errors")
        .order_by("-created_at", "-pk")
    )
    context = {"form": form, "can_add": can_add, "page": _page(request, imports)}
    return render(request, "members/admin/import_list.html", context)


@permission_required(PERM_VIEW_IMPORTS, PERM_ADD_IMPORTS)
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(
        CustomerImport.objects.select_related("uploaded_by").defer("content"), pk=pk
    )
    errors = sorted(job.errors or [], key=lambda error: error.get("row") or 0)
    context = {
        "job": job,
        "in_progress": job.state in (CustomerImport.State.QUEUED, CustomerImport.State.RUNNING),
        "errors": errors[:MAX_LISTED_ERRORS],
        "error_count": len(errors),
        "errors_truncated": len(errors) > MAX_LISTED_ERRORS,
    }
    return render(request, "members/admin/import_detail.html", context)
