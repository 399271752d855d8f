"""Reads about members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from members.defaults import FIRST_CONSENT, FIRST_CONSENT_TITLE
from members.models import (
    AdmissionDecision,
    AdmissionSettings,
    Application,
    Consent,
    ConsentText,
    Member,
    Tier,
)


@dataclass(frozen=True)
class ViewerStatus:
    """Who is looking at a page, as the site shell and the access gate see it."""

    kind: str  # "outsider" | "applicant" | "member" | "suspended" | "left" | "staff"
    tier: Tier | None = None
    member: Member | None = None

    @property
    def is_member(self) -> bool:
        return self.kind == "member"


def viewer_status(user) -> ViewerStatus:
    if user is None or not user.is_authenticated:
        return ViewerStatus("outsider")
    if user.is_staff:
        return ViewerStatus("staff")
    member = Member.objects.select_related("tier").filter(user=user).first()
    if member is None:
        return ViewerStatus("outsider")
    return ViewerStatus(member.state, tier=member.tier, member=member)


def viewer_for_request(request) -> ViewerStatus:
    """The request's viewer, computed once per request (the header and the gate share it)."""
    cached = getattr(request, "_viewer_status", None)
    if cached is None:
        cached = viewer_status(getattr(request, "user", None))
        request._viewer_status = cached
    return cached


def current_consent_text() -> ConsentText:
    """The newest published consent text; the built-in first version if none was published."""
    text = ConsentText.objects.filter(published_at__isnull=False).order_by("-version").first()
    if text is None:
        text, _created = ConsentText.objects.get_or_create(
            version=1,
            defaults={
                "title": FIRST_CONSENT_TITLE,
                "body": FIRST_CONSENT,
                "published_at": timezone.now(),
            },
        )
    return text


def has_current_consent(member: Member | None) -> bool:
    if member is None:
        return False
    return Consent.objects.filter(member=member, text=current_consent_text()).exists()


def waitlist_position(member: Member) -> int | None:
    """1-based place among pending applications, oldest first; None when not waiting."""
    application = Application.objects.filter(member=member).first()
    if application is None or application.state != Application.State.PENDING:
        return None
    return (
        Application.objects.filter(
            state=Application.State.PENDING, submitted_at__lt=application.submitted_at
        ).count()
        + 1
    )


def admission_settings() -> AdmissionSettings:
    return AdmissionSettings.load()


def member_data_export(member: Member) -> dict[str, Any]:
    """Everything the club holds about the member, for the member's own download."""
    return {
        "member": {
            "display_name": member.display_name,
            "state": member.state,
            "tier": member.tier.name if member.tier else None,
            "membership_number": member.membership_number,
            "joined_at": member.joined_at,
            "created_at": member.created_at,
            "show_name_on_shares": member.show_name_on_shares,
        },
        "weibo": {
            "uid": member.weibo_uid,
            "screen_name": member.weibo_screen_name,
            "avatar_url": member.weibo_avatar_url,
            "location": member.weibo_location,
            "gender": member.weibo_gender,
            "followers_count": member.weibo_followers,
            "friends_count": member.weibo_friends,
            "statuses_count": member.weibo_statuses,
            "verified": member.weibo_verified,
            "created_at": member.weibo_created_at,
            "refreshed_at": member.weibo_refreshed_at,
            "token_expires_at": member.weibo_token_expires_at,
        },
        "consents": [
            {
                "version": c.text.version,
                "title": c.text.title,
                "accepted_at": c.accepted_at,
                "ip": c.ip,
            }
            for c in member.consents.select_related("text").order_by("accepted_at")
        ],
        "admission_decisions": [
            {"outcome": d.outcome, "route": d.route, "reason": d.reason, "at": d.created_at}
            for d in AdmissionDecision.objects.filter(member=member).order_by("created_at")
        ],
    }
