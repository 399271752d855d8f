"""The share app's part of a member's export and of their erasure (see ``members.privacy``).

When a member leaves, their shares stay as rows (referral rewards, statistics and landing-page
counts are made of them) but lose what identifies the person: the text they posted, the IP
address they confirmed from, their Weibo uid and the id of the post on their timeline, Weibo's
error messages, and the share cards (which carry their name, avatar and link) are deleted from
storage. A share still waiting to be posted fails instead. Landing pages of their shares keep
working without naming anyone. Landing visits are stored as a random visitor cookie per day
(no IP address, no user agent): they are about the visitors, not the member, and stay as counts.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from members.models import Member
from members.privacy.registry import Departure, Rows, Section, register_eraser, register_section
from members.privacy.services import storage_delete
from share.models import Share, ShareAttempt, ShareReferral
from share.services import avatar_cache_key

UNSPECIFIED_IP = "0.0.0.0"  # the column is required; this address names no one


def shares(member: Member) -> Rows:
    rows = (
        Share.objects.filter(member=member)
        .annotate(
            visitor_days=Count("visits", distinct=True),
            referred=Count("referrals", distinct=True),
        )
        .order_by("created_at", "pk")
    )
    return [
        {
            "id": s.pk,
            "created_at": s.created_at,
            "kind": s.kind,
            "subject": s.subject_title,
            "text": s.text,
            "link": s.link,
            "with_card": s.with_card,
            "name_shown": s.show_name,
            "confirmed_from_ip": s.rip,
            "followers_at_share": s.followers_at_share,
            "state": s.state,
            "attempts": s.attempts,
            "sent_at": s.sent_at,
            "weibo_url": s.weibo_url,
            "last_error": s.last_error,
            "landing_visitors": s.visitor_days,
            "applications_brought": s.referred,
        }
        for s in rows
    ]


def share_attempts(member: Member) -> Rows:
    rows = ShareAttempt.objects.filter(share__member=member).order_by("share_id", "number")
    return [
        {
            "share": a.share_id,
            "number": a.number,
            "outcome": a.outcome,
            "error_code": a.error_code,
            "message": a.message,
            "started_at": a.started_at,
            "finished_at": a.finished_at,
        }
        for a in rows
    ]


def referrals(member: Member) -> Rows:
    """Who the member's shares brought is someone else's data: only when and with what result."""
    brought = ShareReferral.objects.filter(share__member=member).order_by("applied_at", "pk")
    rows = [
        {
            "direction": "brought_by_my_share",
            "share": r.share_id,
            "applied_at": r.applied_at,
            "admitted_at": r.admitted_at,
        }
        for r in brought
    ]
    own = ShareReferral.objects.filter(member=member).first()
    if own is not None:
        rows.append(
            {
                "direction": "i_came_through_a_share",
                "share": None,
                "applied_at": own.applied_at,
                "admitted_at": own.admitted_at,
            }
        )
    return rows


def erase_share_data(departure: Departure) -> None:
    member = departure.member
    own = Share.objects.filter(member=member)
    cards = [name for name in own.exclude(card_name="").values_list("card_name", flat=True)]
    own.filter(
        state__in=[Share.State.QUEUED, Share.State.SENDING, Share.State.NEEDS_REAUTH]
    ).update(state=Share.State.FAILED, next_attempt_at=None, lease_until=None, in_doubt=False)
    own.update(
        text="", rip=UNSPECIFIED_IP, weibo_uid="", weibo_status_id="", last_error="",
        card_name="", show_name=False,
    )  # fmt: skip
    ShareAttempt.objects.filter(share__member=member).update(message="")
    avatar = departure.avatar_url
    card_names = sorted(set(cards))

    def after_commit() -> None:
        for name in card_names:
            storage_delete(name)
        if avatar:
            cache.delete(avatar_cache_key(avatar))

    transaction.on_commit(after_commit)


def register() -> None:
    for section in (
        Section(
            "shares",
            _("微博分享"),
            _("您分享到微博的内容、正文、链接、发布结果，以及落地页访客数和带来的入会申请数。"),
            shares,
        ),
        Section(
            "share_attempts",
            _("分享发布尝试"),
            _("每次向微博发布的尝试和微博的答复。"),
            share_attempts,
        ),
        Section(
            "referrals",
            _("推荐记录"),
            _("您的分享带来的入会申请（不含对方身份），以及您是否经由分享入会。"),
            referrals,
        ),
    ):
        register_section(section)
    register_eraser("share", erase_share_data)
