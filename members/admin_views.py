"""Staff screens of the club in the Wagtail admin: applications, members, invitations, imports.

Every view checks the Django model permission it needs (GET and POST alike) and answers 403
without it. Business actions go through ``members.services``; a ``DomainError`` becomes an
error message for the staff member, never a half-done change.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, F, Prefetch
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
from core.ratelimit import client_ip
from loyalty import services as loyalty_services
from loyalty.admin_views import adjust_from_form
from loyalty.forms import AdjustForm, new_request_key
from members import segments, selectors, services
from members.admin_forms import (
    BirthdayCorrectForm,
    CustomerImportForm,
    InvitationBatchForm,
    MemberFilterForm,
    ReasonForm,
    SegmentNotifyForm,
    TierSetForm,
)
from members.models import (
    AdmissionDecision,
    Application,
    CustomerImport,
    InvitationCode,
    Member,
    Segment,
)

PER_PAGE = 50
RECENT_DECISIONS = 50
MAX_LISTED_CODES = 1000
MAX_LISTED_ERRORS = 1000

PERM_APPLICATIONS = "members.change_application"
PERM_VIEW_MEMBER = "members.view_member"
PERM_CHANGE_MEMBER = "members.change_member"
PERM_VIEW_INVITATIONS = "members.view_invitationcode"
PERM_ADD_INVITATIONS = "members.add_invitationcode"
PERM_VIEW_IMPORTS = "members.view_customerimport"
PERM_ADD_IMPORTS = "members.add_customerimport"
# Loyalty's own permissions guard the points and tier actions on the member page.
PERM_VIEW_ACCOUNT = "loyalty.view_pointsaccount"
PERM_ADJUST_POINTS = "loyalty.adjust_points"
PERM_SET_TIER = "loyalty.set_tier"


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
    # The member page posts here too and wants to come back to itself.
    if request.POST.get("back") == "member":
        back = redirect("members_admin:member_detail", pk=application.member_id)
    else:
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


def _member_filters(request: HttpRequest) -> tuple[MemberFilterForm, str]:
    form = MemberFilterForm(request.GET or None)
    sort = request.GET.get("o") or selectors.DEFAULT_MEMBER_SORT
    if sort.lstrip("-") not in selectors.MEMBER_SORTS:
        sort = selectors.DEFAULT_MEMBER_SORT
    return form, sort


def _sort_links(sort: str) -> dict[str, dict[str, str]]:
    """For each sortable column: the ``o`` value its header link sets, and the current arrow."""
    links = {}
    for key in selectors.MEMBER_SORTS:
        if sort == key:
            links[key] = {"o": f"-{key}", "arrow": "▲"}
        elif sort == f"-{key}":
            links[key] = {"o": key, "arrow": "▼"}
        else:
            links[key] = {"o": f"-{key}" if key != "name" else key, "arrow": ""}
    return links


@permission_required(PERM_VIEW_MEMBER)
def member_list(request: HttpRequest) -> HttpResponse:
    form, sort = _member_filters(request)
    members = selectors.member_search(form.filters(), sort=sort)
    query = request.GET.copy()
    query.pop("p", None)
    context = {
        "form": form,
        "page": _page(request, members),
        "sort": sort,
        "sort_links": _sort_links(sort),
        "export_query": query.urlencode(),
        "can_notify": request.user.has_perm(PERM_CHANGE_MEMBER),
        "segment": form.filters().get("segment", ""),
    }
    return render(request, "members/admin/member_list.html", context)


@permission_required(PERM_VIEW_MEMBER)
def member_export(request: HttpRequest) -> HttpResponse:
    """The filtered list as CSV (formula-safe); every download is audited with its filter."""
    form, sort = _member_filters(request)
    members = selectors.member_search(form.filters(), sort=sort)
    services.members_export_record(
        actor=request.user, filters=form.describe(), rows=members.count(), ip=client_ip(request)
    )
    header = [_("编号"), _("昵称"), _("微博昵称"), _("微博 UID"), _("会员卡号"), _("状态"),
              _("等级"), _("用户分层"), _("积分"), _("粉丝数"), _("微博认证"), _("疑似僵尸号"),
              _("入会时间"), _("最近访问")]  # fmt: skip
    rows = (
        [
            member.pk,
            member.display_name,
            member.weibo_screen_name,
            member.weibo_uid or "",
            member.membership_number or "",
            member.get_state_display(),
            member.tier.name if member.tier else "",
            member.get_segment_display() if member.segment else "",
            member.points_balance,
            member.weibo_followers,
            _("是") if member.weibo_verified else _("否"),
            _("是") if member.zombie_suspected else _("否"),
            _local(member.joined_at),
            _local(member.last_seen_at),
        ]
        for member in members.iterator(chunk_size=2000)
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_response(f"members-{stamp}.csv", header, rows)


@permission_required(PERM_VIEW_MEMBER)
def member_detail(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(
        Member.objects.select_related("tier", "user", "invited_by", "application"), pk=pk
    )
    overview = selectors.member_overview(member)
    application = getattr(member, "application", None)
    user = request.user
    context = {
        **overview,
        "member": member,
        "application": application,
        "segment_reasons": segments.labelled(member.segment_reasons or {}, segments.REASON_LABELS),
        "zombie_reasons": segments.labelled(
            member.zombie_reasons or [], segments.ZOMBIE_REASON_LABELS
        ),
        "can_change": user.has_perm(PERM_CHANGE_MEMBER),
        "can_suspend": member.state == Member.State.MEMBER,
        "can_reinstate": member.state == Member.State.SUSPENDED,
        "can_decide": user.has_perm(PERM_APPLICATIONS)
        and application is not None
        and application.state == Application.State.PENDING
        and member.state == Member.State.APPLICANT,
        "can_set_tier": user.has_perm(PERM_SET_TIER) and member.state == Member.State.MEMBER,
        "can_adjust": user.has_perm(PERM_ADJUST_POINTS) and member.state == Member.State.MEMBER,
        "can_view_account": user.has_perm(PERM_VIEW_ACCOUNT),
        "suspend_form": ReasonForm(prefix="suspend"),
        "reinstate_form": ReasonForm(prefix="reinstate"),
        "tier_form": TierSetForm(initial={"tier": member.tier_id}),
        "birthday_form": BirthdayCorrectForm(
            prefix="birthday",
            initial={
                "month": member.birthday_month,
                "day": member.birthday_day,
                "year": member.birthday_year,
            },
        ),
        "adjust_form": AdjustForm(initial={"idempotency_key": new_request_key()}),
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


def _form_errors(request: HttpRequest, form) -> None:
    """Each invalid field's first error as a message, naming the field (the form is not shown
    again: the page has several)."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        messages.error(request, f"{label}：{errors[0]}" if label else errors[0])


@permission_required(PERM_CHANGE_MEMBER)
@require_POST
def member_birthday_correct(request: HttpRequest, pk: int) -> HttpResponse:
    """Set or correct the member's birthday (audited, with a reason)."""
    member = get_object_or_404(Member, pk=pk)
    form = BirthdayCorrectForm(request.POST, prefix="birthday")
    if not form.is_valid():
        _form_errors(request, form)
    else:
        data = form.cleaned_data
        try:
            services.member_birthday_correct(
                member=member,
                birthday=services.Birthday(data["month"], data["day"], data.get("year")),
                actor=request.user,
                reason=data["reason"],
                ip=client_ip(request),
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("生日已更正。"))
    return redirect("members_admin:member_detail", pk=member.pk)


@permission_required(PERM_SET_TIER)
@require_POST
def member_set_tier(request: HttpRequest, pk: int) -> HttpResponse:
    """Put the member on a tier until a date (loyalty's manual tier, audited there)."""
    member = get_object_or_404(Member, pk=pk)
    form = TierSetForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        try:
            if member.state != Member.State.MEMBER:
                raise DomainError(_("只能为正式会员设置等级。"))
            change = loyalty_services.tier_set_manual(
                member=member,
                tier=form.cleaned_data["tier"],
                until=form.until_or_default(),
                reason=form.cleaned_data["reason"],
                actor=request.user,
                ip=client_ip(request),
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _("已将等级设为%(tier)s，有效至 %(until)s。")
                % {"tier": change.to_tier.name, "until": change.manual_until.isoformat()},
            )
    return redirect("members_admin:member_detail", pk=member.pk)


@permission_required(PERM_ADJUST_POINTS)
@require_POST
def member_adjust_points(request: HttpRequest, pk: int) -> HttpResponse:
    """A points correction within the operator's daily limit (loyalty's, audited there)."""
    member = get_object_or_404(Member, pk=pk)
    adjust_from_form(request, member)
    return redirect("members_admin:member_detail", pk=member.pk)


@permission_required(PERM_CHANGE_MEMBER)
def segment_notify(request: HttpRequest) -> HttpResponse:
    """Write one notification to every admitted member of a segment (sent in the background)."""
    form = SegmentNotifyForm(request.POST or None, initial={"segment": request.GET.get("segment")})
    if request.method == "POST" and form.is_valid():
        try:
            entry = segments.segment_notify(
                segment=form.cleaned_data["segment"],
                zombies=form.cleaned_data["zombies"],
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                link=form.cleaned_data["link"],
                actor=request.user,
                ip=client_ip(request),
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _("通知正在发送给 %(count)s 位会员。") % {"count": entry.after["recipients"]},
            )
            url = reverse("members_admin:member_list")
            return redirect(f"{url}?{urlencode({'segment': form.cleaned_data['segment']})}")
    counts = dict(
        Member.objects.filter(state=Member.State.MEMBER)
        .exclude(segment="")
        .values("segment")
        .annotate(n=Count("pk"))
        .values_list("segment", "n")
    )
    sizes = [(label, counts.get(value, 0)) for value, label in Segment.choices]
    return render(
        request, "members/admin/segment_notify.html", {"form": form, "segment_sizes": sizes}
    )


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
