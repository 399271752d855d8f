"""Staff screens for consent texts (会员 → 授权说明): list, draft, edit, compare, review.

Thin like ``members.admin_views``: each view checks its model permission on GET and POST alike
(403 without it), calls one service of ``members.consent_services`` and turns a ``DomainError``
into a message. Who holds which permission is decided in ``core.roles``.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.adminkit import permission_required
from core.errors import DomainError
from members import consent_services, selectors
from members.consent_diff import consent_text_diff
from members.models import ConsentText

PERM_VIEW = "members.view_consenttext"
PERM_ADD = "members.add_consenttext"
PERM_CHANGE = "members.change_consenttext"
PERM_PUBLISH = "members.publish_consenttext"
ANY_CONSENT_PERM = (PERM_VIEW, PERM_ADD, PERM_CHANGE, PERM_PUBLISH)


class ConsentTextForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("标题（简体中文）"), max_length=100)
    body = forms.CharField(label=gettext_lazy("正文（简体中文）"), widget=forms.Textarea)
    title_en = forms.CharField(label=gettext_lazy("标题（英文）"), max_length=100, required=False)
    body_en = forms.CharField(
        label=gettext_lazy("正文（英文）"), widget=forms.Textarea, required=False,
        help_text=gettext_lazy("英文标题和正文都填写时，选择英文的会员看到英文版本；否则看到简体中文版本。"),
    )  # fmt: skip
    material = forms.BooleanField(
        label=gettext_lazy("重大变更（会员须重新同意）"), required=False, initial=True,
        help_text=gettext_lazy("修改了收集的信息、用途、分享方式或会员权利时必须勾选；只改错别字、格式时可不勾选，会员无须重新同意。"),
    )  # fmt: skip

    def clean(self):
        data = super().clean()
        if bool(data.get("title_en")) != bool(data.get("body_en")):
            raise forms.ValidationError(_("英文标题和英文正文请同时填写或同时留空。"))
        return data

    @classmethod
    def initial_from(cls, text: ConsentText) -> dict:
        return {
            "title": text.title, "body": text.body, "title_en": text.title_en,
            "body_en": text.body_en, "material": text.material,
        }  # fmt: skip


def _fail(request: HttpRequest, error: DomainError, text: ConsentText) -> HttpResponse:
    messages.error(request, error.message)
    return redirect("members_admin:consent_detail", pk=text.pk)


@permission_required(*ANY_CONSENT_PERM)
def consent_text_list(request: HttpRequest) -> HttpResponse:
    texts = ConsentText.objects.select_related("created_by", "reviewed_by")
    return render(
        request,
        "members/admin/consent_list.html",
        {
            "texts": texts,
            "current": selectors.current_consent_text(),
            "baseline": selectors.consent_baseline(),
            "can_add": request.user.has_perm(PERM_ADD),
        },
    )


@permission_required(PERM_ADD)
def consent_text_create(request: HttpRequest) -> HttpResponse:
    """A new draft, empty or copied from an existing version (``?from=<id>``)."""
    source_id = request.POST.get("from") or request.GET.get("from")
    source = get_object_or_404(ConsentText, pk=source_id) if source_id else None
    # A copy starts as a material change whatever its source was: not asking members again is a
    # decision the author makes for this draft, never one inherited from a typo fix.
    initial = {**ConsentTextForm.initial_from(source), "material": True} if source else None
    form = ConsentTextForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        text = consent_services.consent_text_create(
            actor=request.user,
            based_on=source if source is not None and source.published_at else None,
            **form.cleaned_data,
        )
        messages.success(request, _("草稿已保存。"))
        return redirect("members_admin:consent_detail", pk=text.pk)
    return render(
        request, "members/admin/consent_form.html", {"form": form, "source": source, "text": None}
    )


@permission_required(PERM_CHANGE)
def consent_text_edit(request: HttpRequest, pk: int) -> HttpResponse:
    text = get_object_or_404(ConsentText, pk=pk)
    if text.state != ConsentText.State.DRAFT:
        return _fail(request, consent_services.ConsentTextLocked(), text)
    form = ConsentTextForm(request.POST or None, initial=ConsentTextForm.initial_from(text))
    if request.method == "POST" and form.is_valid():
        try:
            consent_services.consent_text_update(text=text, actor=request.user, **form.cleaned_data)
        except DomainError as error:
            return _fail(request, error, text)
        messages.success(request, _("草稿已保存。"))
        return redirect("members_admin:consent_detail", pk=text.pk)
    return render(
        request, "members/admin/consent_form.html", {"form": form, "source": None, "text": text}
    )


@permission_required(*ANY_CONSENT_PERM)
def consent_text_detail(request: HttpRequest, pk: int) -> HttpResponse:
    text = get_object_or_404(
        ConsentText.objects.select_related("created_by", "submitted_by", "reviewed_by", "based_on"),
        pk=pk,
    )
    user = request.user
    return render(
        request,
        "members/admin/consent_detail.html",
        {
            "text": text,
            "previous": selectors.consent_text_previous(text),
            "history": selectors.consent_text_history(text),
            "editors": list(text.editors.all()),
            "can_edit": text.state == ConsentText.State.DRAFT and user.has_perm(PERM_CHANGE),
            "can_submit": text.state == ConsentText.State.DRAFT and user.has_perm(PERM_CHANGE),
            "can_review": text.state == ConsentText.State.IN_REVIEW and user.has_perm(PERM_PUBLISH),
            "can_copy": text.state == ConsentText.State.PUBLISHED and user.has_perm(PERM_ADD),
        },
    )


@permission_required(*ANY_CONSENT_PERM)
def consent_text_compare(request: HttpRequest, pk: int) -> HttpResponse:
    """What changed from the previous published version, per language."""
    text = get_object_or_404(ConsentText, pk=pk)
    previous = selectors.consent_text_previous(text)
    return render(
        request,
        "members/admin/consent_compare.html",
        {"text": text, "previous": previous, "languages": consent_text_diff(previous, text)},
    )


@permission_required(PERM_CHANGE)
@require_POST
def consent_text_submit(request: HttpRequest, pk: int) -> HttpResponse:
    text = get_object_or_404(ConsentText, pk=pk)
    try:
        consent_services.consent_text_submit(text=text, actor=request.user)
    except DomainError as error:
        return _fail(request, error, text)
    messages.success(request, _("已提交审核，请由另一位有发布权限的同事审核。"))
    return redirect("members_admin:consent_detail", pk=text.pk)


@permission_required(PERM_PUBLISH)
@require_POST
def consent_text_review(request: HttpRequest, pk: int) -> HttpResponse:
    text = get_object_or_404(ConsentText, pk=pk)
    decision = request.POST.get("decision")
    comment = request.POST.get("comment", "")
    try:
        if decision == "approve":
            text = consent_services.consent_text_approve(
                text=text, actor=request.user, comment=comment
            )
            messages.success(
                request, _("已通过并发布为第 %(version)s 版。") % {"version": text.version}
            )
        elif decision == "reject":
            consent_services.consent_text_reject(text=text, actor=request.user, comment=comment)
            messages.success(request, _("已退回起草人修改。"))
        else:
            messages.error(request, _("请选择通过或退回。"))
    except DomainError as error:
        return _fail(request, error, text)
    return redirect("members_admin:consent_detail", pk=text.pk)
