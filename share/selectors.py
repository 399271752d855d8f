"""Reads for sharing: a member's shares, what they may share, the landing teaser, staff stats."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from community.gate import Access, Surface, decide
from community.models import ActivityPage, ActivityPhoto, GatedPage
from members.models import Member, Tier
from members.selectors import ViewerStatus
from share.models import Share, ShareAttempt, ShareReferral, ShareSettings, ShareVisit
from share.subjects import tier_label


def shares_of_member(member: Member) -> QuerySet[Share]:
    return Share.objects.filter(member=member).order_by("-created_at")


def failed_share_of_member(member: Member, share_id: str | None, subject_key: str) -> Share | None:
    """The member's own failed share of this subject, whose text an edit starts from."""
    if not share_id or not str(share_id).isdigit():
        return None
    return Share.objects.filter(
        pk=int(share_id), member=member, subject_key=subject_key, state=Share.State.FAILED
    ).first()


@dataclass(frozen=True)
class Shareable:
    kind: str
    ref: int | None
    title: str
    label: str


def shareable_for_member(member: Member, limit: int = 20) -> list[Shareable]:
    """Activities the member took part in, staff-marked items, redemptions and the tier."""
    from community.models_participation import Registration
    from loyalty.models import Redemption

    viewer = ViewerStatus(member.state, tier=member.tier, member=member)
    items: list[Shareable] = []
    activity_ids = Registration.objects.filter(
        member=member, state__in=["registered", "attended"]
    ).values("activity_id")
    pages = (
        GatedPage.objects.live()
        .filter(shareable=True)
        .filter(Q(pk__in=activity_ids) | ~Q(pk__in=ActivityPage.objects.values("pk")))
        .select_related("min_tier", "early_access_tier")
        .prefetch_related("tiers")
        .order_by("-first_published_at")[:limit]
    )
    for page in pages:
        if decide(viewer, page).full:
            items.append(Shareable("item", page.pk, page.title, _("内容")))
    for redemption in (
        Redemption.objects.filter(account__member=member)
        .exclude(state__in=[Redemption.State.CANCELLED, Redemption.State.EXPIRED])
        .select_related("reward")
        .order_by("-created_at")[:5]
    ):
        items.append(Shareable("reward", redemption.pk, redemption.reward.name, _("积分兑换")))
    for photo in (
        ActivityPhoto.objects.filter(member=member, state=ActivityPhoto.State.PUBLISHED)
        .exclude(image_name="")
        .select_related("activity")
        .order_by("-published_at")[:5]
    ):
        items.append(Shareable("photo", photo.pk, photo.activity.title, _("活动照片")))
    lowest = Tier.objects.order_by("rank").values_list("pk", flat=True).first()
    if member.tier_id and member.tier_id != lowest:
        items.append(Shareable("tier", None, member.tier.name, _("会员等级")))
    return items


# What ``services.link_token`` makes (URL-safe base64), within the column's length.
TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,32}")


def share_for_landing(token: str) -> Share | None:
    """The member's latest share of this subject (visits go to it), preferring one that was sent."""
    if not TOKEN_FORMAT.fullmatch(token or ""):
        return None  # not one of our tokens (a NUL would even make PostgreSQL refuse the query)
    return (
        Share.objects.filter(token=token)
        .select_related("member", "item", "tier", "redemption__reward")
        .order_by("-sent_at", "-created_at")
        .first()
    )


@dataclass(frozen=True)
class Teaser:
    title: str
    summary: str
    kind_label: str
    tier_label: str = ""
    cover: object | None = None
    item: GatedPage | None = None
    locked: bool = True


def landing_teaser(share: Share) -> Teaser | None:
    """What an outsider may see of the shared thing, now (an unpublished item shows nothing)."""
    if share.kind in (Share.Kind.ITEM, Share.Kind.PHOTO):
        item = share.item
        if item is None:
            return None
        item = (
            GatedPage.objects.filter(pk=item.pk)
            .select_related("min_tier", "cover_image")
            .prefetch_related("tiers")
            .first()
        )
        decision = decide(ViewerStatus("outsider"), item, Surface.SHARE_CARD)
        if decision.access == Access.HIDDEN:
            return None
        return Teaser(
            title=item.title, summary=item.summary,
            kind_label=str(item.specific_class._meta.verbose_name), tier_label=tier_label(item),
            cover=item.cover_image, item=item, locked=not decision.full,
        )  # fmt: skip
    if share.kind == Share.Kind.REWARD and share.redemption_id:
        reward = share.redemption.reward
        return Teaser(title=reward.name, summary=(reward.description or "")[:140],
                      kind_label=_("积分兑换"), cover=reward.image)  # fmt: skip
    if share.kind == Share.Kind.TIER and share.tier_id:
        return Teaser(title=share.tier.name, summary=share.tier.benefits[:200],
                      kind_label=_("会员等级"), tier_label=share.tier.name)  # fmt: skip
    return None


def shared_photo_still_shown(share: Share) -> bool:
    """A photo share's card shows the picture: only while the photo is on its wall."""
    return (
        ActivityPhoto.objects.filter(pk=share.photo_id, state=ActivityPhoto.State.PUBLISHED)
        .exclude(image_name="")
        .exists()
    )


def club_teaser() -> Teaser:
    from django.conf import settings

    return Teaser(title=settings.CLUB_NAME, summary=_("品牌会员专属社区：活动、优惠和积分礼遇。"),
                  kind_label=_("会员俱乐部"))  # fmt: skip


def sharer_public_name(share: Share) -> str:
    member = share.member
    if not share.show_name or member.state == Member.State.LEFT:
        return ""
    return member.display_name or member.weibo_screen_name


def referral_days() -> int:
    return ShareSettings.load().referral_days


# --- Staff statistics ------------------------------------------------------------------------


def item_share_stats(*, since=None, until=None) -> list[dict]:
    """Per shared subject: shares, sent, failed, reach, clicks, applications, admissions.

    A handful of grouped queries whatever the number of items, merged in Python.
    """
    shares = Share.objects.all()
    if since:
        shares = shares.filter(created_at__gte=since)
    if until:
        shares = shares.filter(created_at__lt=until)
    rows = {
        row["subject_key"]: dict(row, clicks=0, applied=0, admitted=0)
        for row in shares.values("subject_key")
        .annotate(
            title=Max("subject_title"),
            shares=Count("pk"),
            sharers=Count("member", distinct=True),
            sent=Count("pk", filter=Q(state=Share.State.SENT)),
            failed=Count("pk", filter=Q(state=Share.State.FAILED)),
            waiting=Count("pk", filter=Q(state__in=[Share.State.QUEUED, Share.State.SENDING,
                                                    Share.State.NEEDS_REAUTH])),
            reach=Sum("followers_at_share", filter=Q(state=Share.State.SENT), default=0),
        )
        .order_by()
    }  # fmt: skip
    share_ids = shares.values("pk")
    for row in (
        ShareVisit.objects.filter(share__in=share_ids)
        .values("share__subject_key")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        rows[row["share__subject_key"]]["clicks"] = row["n"]
    for row in (
        ShareReferral.objects.filter(share__in=share_ids)
        .values("share__subject_key")
        .annotate(applied=Count("pk"), admitted=Count("pk", filter=Q(admitted_at__isnull=False)))
        .order_by()
    ):
        rows[row["share__subject_key"]].update(applied=row["applied"], admitted=row["admitted"])
    return sorted(rows.values(), key=lambda row: (-row["shares"], row["subject_key"]))


def failure_reasons(*, subject_key: str | None = None, since=None) -> list[dict]:
    """Failed attempts grouped by Weibo error code (None = timeout or lost connection)."""
    attempts = ShareAttempt.objects.exclude(outcome=ShareAttempt.Outcome.SENT).exclude(
        outcome=ShareAttempt.Outcome.CONFIRMED_REPEAT
    )
    if subject_key:
        attempts = attempts.filter(share__subject_key=subject_key)
    if since:
        attempts = attempts.filter(started_at__gte=since)
    return list(
        attempts.values("error_code", "outcome")
        .annotate(n=Count("pk"), last_message=Max("message"))
        .order_by("-n")
    )
