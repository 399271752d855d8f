"""Member pages of coalition partners (我的 → 合作伙伴). Thin: parse, call one service, render.

Linking is the member's separate consent: the page shows the partner's name and exactly what
it will receive (``partner_consent_text``), and the confirmation carries the digest of that
text, so the member consents to what they read.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.ratelimit import client_ip, rate_limited
from loyalty import services
from loyalty.models import PartnerLink
from loyalty.selectors.partners import member_partners
from loyalty.services.partners import link_request_for_code
from loyalty.views import member_required

CODE_ATTEMPTS = 10  # link codes a member may try in ten minutes


@member_required
def mine(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "partners/mine.html",
        {"partners": member_partners(request.member), "tab": "partners"},
    )


@member_required
def link(request: HttpRequest) -> HttpResponse:
    """GET ``?code=``: the partner and the consent to confirm; POST: confirm it."""
    code = (request.POST.get("code") or request.GET.get("code") or "").strip().upper()
    if not code:
        return redirect("partners:mine")
    if rate_limited(request, "partner-link-code", limit=CODE_ATTEMPTS, window=600,
                    key=str(request.member.pk)):  # fmt: skip
        messages.error(request, _("尝试次数过多，请稍后再试。"))
        return redirect("partners:mine")
    try:
        link_request = link_request_for_code(code)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("partners:mine")
    partner = link_request.partner
    consent_text = services.partner_consent_text(partner)
    if request.method == "POST" and request.POST.get("confirm"):
        try:
            services.partner_link_confirm(
                member=request.member, code=code,
                consent_sha256=request.POST.get("consent_sha256", ""), ip=client_ip(request),
            )  # fmt: skip
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("已关联%(partner)s。") % {"partner": partner.name})
            return redirect("partners:mine")
    return render(
        request,
        "partners/link.html",
        {
            "partner": partner,
            "code": code,
            "consent_text": consent_text,
            "consent_sha256": PartnerLink.digest(consent_text),
            "tab": "partners",
        },
    )


@member_required
@require_POST
def unlink(request: HttpRequest, link_id: int) -> HttpResponse:
    found = get_object_or_404(PartnerLink, pk=link_id, member=request.member)
    try:
        services.partner_unlink(member=request.member, link=found, ip=client_ip(request))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("已解除与%(partner)s的关联。") % {"partner": found.partner.name}
        )
    return redirect("partners:mine")
