"""What a member may share, and the public teaser of it: the only content a share ever carries.

A share's text, card and landing page are built from ``Subject`` alone, and a ``Subject`` holds
only the teaser (title, summary, cover, the tier it is reserved for), never the body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q
from django.utils.translation import gettext as _

from community.gate import Surface, decide
from community.models import ActivityPage, ActivityPhoto, GatedPage
from core.errors import DomainError
from members.models import Member, Tier
from members.selectors import ViewerStatus


class NotShareable(DomainError):
    pass


@dataclass(frozen=True)
class Subject:
    kind: str  # Share.Kind value
    key: str  # "item:<page id>", "reward:<redemption id>", "tier:<tier id>"
    title: str
    summary: str = ""
    kind_label: str = ""
    tier_label: str = ""
    template: str = ""
    item: GatedPage | None = None
    redemption: object | None = None
    tier: Tier | None = None
    cover: object | None = field(default=None, repr=False)  # a Wagtail image
    photo: object | None = field(default=None, repr=False)  # an ActivityPhoto (the card's picture)


def tier_label(item: GatedPage) -> str:
    access = item.access
    if access == GatedPage.Access.PUBLIC:
        return ""
    if access == GatedPage.Access.MIN_TIER and item.min_tier:
        return _("%(tier)s及以上专享") % {"tier": item.min_tier.name}
    if access == GatedPage.Access.TIERS:
        names = [tier.name for tier in item.tiers.all()]
        if names:
            return _("%(tiers)s专享") % {"tiers": "/".join(names)}
    return _("会员专享")


def item_subject(member: Member, page_id: int) -> Subject:
    from share.models import ShareSettings

    item = (
        GatedPage.objects.live()
        .filter(pk=page_id)
        .select_related("min_tier", "cover_image", "early_access_tier")
        .first()
    )
    if item is None or not item.shareable:
        raise NotShareable(_("这条内容不能分享。"))
    viewer = ViewerStatus(member.state, tier=member.tier, member=member)
    if not decide(viewer, item).full:
        raise NotShareable(_("你还不能查看这条内容，所以不能分享它。"))
    if not decide(ViewerStatus("outsider"), item, Surface.SHARE_CARD).visible:
        # Hidden from outsiders altogether: even its title must not reach a public timeline.
        raise NotShareable(_("这条内容不对外公开，不能分享。"))
    specific = item.specific
    if isinstance(specific, ActivityPage):
        took_part = specific.registrations.filter(
            Q(state="registered") | Q(state="attended"), member=member
        ).exists()
        if not took_part:
            raise NotShareable(_("报名参加这个活动后才能分享它。"))
        kind_label = _("活动")
    else:
        kind_label = specific._meta.verbose_name
    return Subject(
        kind="item",
        key=f"item:{item.pk}",
        title=item.title,
        summary=item.summary,
        kind_label=str(kind_label),
        tier_label=tier_label(item),
        template=item.share_text_template or ShareSettings.load().item_template,
        item=item,
        cover=item.cover_image,
    )


def photo_subject(member: Member, photo_id: int) -> Subject:
    """The member's own approved photo from an activity's wall: the card shows the picture,
    the text and the landing page name only the activity's public teaser."""
    from share.models import ShareSettings

    photo = (
        ActivityPhoto.objects.filter(
            pk=photo_id, member=member, state=ActivityPhoto.State.PUBLISHED
        )
        .exclude(image_name="")
        .first()
    )
    if photo is None:
        raise NotShareable(_("只能分享自己已通过审核的照片。"))
    activity = (
        ActivityPage.objects.live()
        .filter(pk=photo.activity_id)
        .select_related("min_tier", "early_access_tier")
        .first()
    )
    viewer = ViewerStatus(member.state, tier=member.tier, member=member)
    if activity is None or not decide(viewer, activity).full:
        raise NotShareable(_("你还不能查看这个活动，所以不能分享它的照片。"))
    if not decide(ViewerStatus("outsider"), activity, Surface.SHARE_CARD).visible:
        # The activity is hidden from outsiders: not even its title may reach a public timeline.
        raise NotShareable(_("这个活动不对外公开，不能分享它的照片。"))
    return Subject(
        kind="photo",
        key=f"photo:{photo.pk}",
        title=activity.title,
        summary=photo.caption,
        kind_label=str(_("活动照片")),
        tier_label=tier_label(activity),
        template=activity.share_text_template or ShareSettings.load().item_template,
        item=activity,
        photo=photo,
    )


def reward_subject(member: Member, redemption_id: int) -> Subject:
    from loyalty.models import Redemption
    from share.models import ShareSettings

    redemption = (
        Redemption.objects.filter(pk=redemption_id, account__member=member)
        .exclude(state__in=[Redemption.State.CANCELLED, Redemption.State.EXPIRED])
        .select_related("reward")
        .first()
    )
    if redemption is None:
        raise NotShareable(_("找不到这次兑换。"))
    reward = redemption.reward
    return Subject(
        kind="reward",
        key=f"reward:{redemption.pk}",
        title=reward.name,
        summary=(reward.description or "")[:140],
        kind_label=_("积分兑换"),
        template=ShareSettings.load().reward_template,
        redemption=redemption,
        cover=reward.image,
    )


def tier_subject(member: Member) -> Subject:
    from share.models import ShareSettings

    tier = member.tier
    lowest = Tier.objects.order_by("rank").first()
    if tier is None or (lowest is not None and tier.pk == lowest.pk):
        raise NotShareable(_("升级到更高等级后可以分享你的会员等级。"))
    return Subject(
        kind="tier",
        key=f"tier:{tier.pk}",
        title=tier.name,
        summary=_("成为%(tier)s会员") % {"tier": tier.name},
        kind_label=_("会员等级"),
        tier_label=tier.name,
        template=ShareSettings.load().tier_template,
        tier=tier,
    )


def subject_for(member: Member, *, kind: str, ref: int | None) -> Subject:
    if member.state != Member.State.MEMBER:
        raise NotShareable(_("只有正式会员可以分享。"))
    if kind == "item" and ref:
        return item_subject(member, ref)
    if kind == "reward" and ref:
        return reward_subject(member, ref)
    if kind == "photo" and ref:
        return photo_subject(member, ref)
    if kind == "tier":
        return tier_subject(member)
    raise NotShareable(_("这条内容不能分享。"))
