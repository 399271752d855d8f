"""The community's part of a member's export and of their erasure (see ``members.privacy``).

When a member leaves, their comments stay in their threads (replies would lose their context
otherwise) but every stored version of their words is replaced by a placeholder, which pages
show translated; the IP addresses of their revisions, their report texts, and the keywords
their comments matched go too. Where other members mentioned them (``@name``), the name in
those comments and in the notifications about their own comments is replaced by the
placeholder name. Claims, registrations, check-ins and likes stay as rows without text, so
counts and seat figures do not move.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Replace
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from community.models import (
    ActivityPhoto,
    Comment,
    CommentLike,
    CommentMention,
    CommentReport,
    CommentRevision,
    DrawEntry,
    ItemLike,
    OfferClaim,
    OfferWaitlistEntry,
    PhotoReport,
    Registration,
)
from core import pagecache
from core.models import Notification
from members.models import Member
from members.privacy.registry import Departure, Rows, Section, register_eraser, register_section


def offer_claims(member: Member) -> Rows:
    claims = OfferClaim.objects.filter(member=member).select_related("offer", "cancellation")
    rows = []
    for claim in claims.order_by("created_at", "pk"):
        cancellation = getattr(claim, "cancellation", None)
        rows.append(
            {
                "created_at": claim.created_at,
                "offer": claim.offer.title,
                "code": claim.code,
                "points_spent": claim.points_spent,
                "cancelled_at": cancellation.created_at if cancellation else None,
                "cancel_reason": cancellation.reason if cancellation else "",
                "points_refunded": cancellation.points_refunded if cancellation else 0,
            }
        )
    return rows


def registrations(member: Member) -> Rows:
    rows = Registration.objects.filter(member=member).select_related("activity")
    return [
        {
            "activity": r.activity.title,
            "state": r.state,
            "registered_at": r.created_at,
            "promoted_from_waitlist_at": r.promoted_at,
            "hold_until": r.hold_until,
            "cancelled_at": r.cancelled_at,
            "checked_in_at": r.attended_at,
            "checkin_method": r.checkin_method,
        }
        for r in rows.order_by("created_at", "pk")
    ]


def offer_waitlist(member: Member) -> Rows:
    rows = OfferWaitlistEntry.objects.filter(member=member).select_related("offer")
    return [
        {
            "offer": e.offer.title,
            "state": e.state,
            "origin": e.origin,
            "joined_at": e.created_at,
            "held_at": e.held_at,
            "hold_until": e.hold_until,
            "ended_at": e.closed_at,
        }
        for e in rows.order_by("created_at", "pk")
    ]


def draw_entries(member: Member) -> Rows:
    rows = DrawEntry.objects.filter(member=member).select_related("draw__item")
    return [
        {
            "item": e.draw.item.title,
            "entry_id": e.public_id,
            "weight": e.weight,
            "entered_at": e.created_at,
            "withdrawn_at": e.withdrawn_at,
            "rank": e.rank,
            "won": e.won,
        }
        for e in rows.order_by("created_at", "pk")
    ]


def comments(member: Member) -> Rows:
    rows = Comment.objects.filter(member=member).select_related("page")
    return [
        {
            "id": c.pk,
            "created_at": c.created_at,
            "item": c.page.title,
            "reply_to": c.parent_id,
            "state": c.state,
            "shown_text": c.body,
            "edited_at": c.edited_at,
            "moderation_reason": c.decision_reason,
        }
        for c in rows.order_by("created_at", "pk")
    ]


def comment_revisions(member: Member) -> Rows:
    rows = CommentRevision.objects.filter(comment__member=member)
    return [
        {
            "comment": r.comment_id,
            "created_at": r.created_at,
            "kind": r.kind,
            "written": r.written,
            "shown": r.shown,
            "state": r.state,
            "ip": r.ip,
        }
        for r in rows.order_by("created_at", "pk")
    ]


def likes(member: Member) -> Rows:
    items = ItemLike.objects.filter(member=member).select_related("page")
    liked_comments = CommentLike.objects.filter(member=member).select_related("comment__page")
    rows = [
        {"created_at": like.created_at, "kind": "item", "item": like.page.title, "comment": None}
        for like in items
    ] + [
        {
            "created_at": like.created_at,
            "kind": "comment",
            "item": like.comment.page.title,
            "comment": like.comment_id,
        }
        for like in liked_comments
    ]
    return sorted(rows, key=lambda row: row["created_at"])


def comment_reports(member: Member) -> Rows:
    rows = CommentReport.objects.filter(reporter=member)
    return [
        {
            "created_at": r.created_at,
            "comment": r.comment_id,
            "reason": r.reason,
            "detail": r.detail,
            "state": r.state,
            "resolved_at": r.resolved_at,
        }
        for r in rows.order_by("created_at", "pk")
    ]


def mentions(member: Member) -> Rows:
    rows = CommentMention.objects.filter(member=member).select_related("comment__page")
    return [
        {"created_at": m.created_at, "comment": m.comment_id, "item": m.comment.page.title}
        for m in rows.order_by("created_at", "pk")
    ]


def _own_photos(member: Member):
    return ActivityPhoto.objects.filter(member=member).exclude(state=ActivityPhoto.State.WITHDRAWN)


def activity_photos(member: Member) -> Rows:
    rows = ActivityPhoto.objects.filter(member=member).select_related("activity")
    return [
        {
            "id": p.pk,
            "activity": p.activity.title,
            "uploaded_at": p.created_at,
            "state": p.state,
            "caption_written": p.caption_written,
            "caption_shown": p.caption,
            "public_consent": p.public_consent,
            "featured": p.featured,
            "moderation_reason": p.decision_reason,
            "withdrawn_at": p.withdrawn_at,
            "file": f"activity_photos/{p.pk}.jpg" if p.image_name else "",
        }
        for p in rows.order_by("created_at", "pk")
    ]


def activity_photo_files(member: Member) -> list[tuple[str, str]]:
    """The re-encoded copies (the originals are deleted once processed; the copies are the
    same pictures without metadata)."""
    return [
        (f"{pk}.jpg", name)
        for pk, name in _own_photos(member).exclude(image_name="").values_list("pk", "image_name")
    ]


def photo_reports(member: Member) -> Rows:
    rows = PhotoReport.objects.filter(reporter=member)
    return [
        {"created_at": r.created_at, "photo": r.photo_id, "reason": r.reason,
         "detail": r.detail, "state": r.state, "resolved_at": r.resolved_at}
        for r in rows.order_by("created_at", "pk")
    ]  # fmt: skip


def erase_photos(member: Member) -> None:
    """The member's photos go, files and words: the rows stay, withdrawn and blank, so the
    points they earned and the audit entries keep their reference."""
    photos = ActivityPhoto.objects.filter(member=member)
    names = [
        name
        for row in photos.values_list("original_name", "image_name", "thumb_name")
        for name in row
        if name
    ]
    if photos.filter(featured=True, public_consent=True).exists():
        pagecache.bump()  # a public teaser showed one of them
    photos.exclude(state=ActivityPhoto.State.WITHDRAWN).update(
        state=ActivityPhoto.State.WITHDRAWN, withdrawn_at=timezone.now()
    )
    photos.update(original_name="", image_name="", thumb_name="", caption="",
                  caption_written="", matched_keywords=[], featured=False,
                  decision_reason="")  # fmt: skip
    PhotoReport.objects.filter(reporter=member).update(detail="")

    def delete_files() -> None:
        for name in names:
            try:
                default_storage.delete(name)
            except Exception:  # noqa: BLE001 - storage away: a leftover file names nobody
                pass

    transaction.on_commit(delete_files)


def _replace_all(column: str, names: tuple[str, ...], placeholder: str):
    expression = F(column)
    for name in names:
        expression = Replace(expression, Value(f"@{name}"), Value(f"@{placeholder}"))
    return expression


def erase_community_data(departure: Departure) -> None:
    member = departure.member
    text = departure.placeholder_text
    own = Comment.objects.filter(member=member)
    own_ids = list(own.values_list("pk", flat=True))
    own.update(body=text, matched_keywords=[], decision_reason="")
    CommentRevision.objects.filter(comment_id__in=own_ids).update(written=text, shown=text, ip=None)
    CommentReport.objects.filter(reporter=member).update(detail="")
    erase_photos(member)
    # Notifications other members got about these comments (mentions) quoted them and named
    # the author.
    Notification.objects.filter(dedupe_key__in=[f"mention:{pk}" for pk in own_ids]).update(
        title=departure.placeholder_text, body=""
    )
    if departure.names:
        mentioned_in = CommentMention.objects.filter(member=member).values("comment_id")
        name_hit = Q()
        for name in departure.names:
            name_hit |= Q(body__contains=f"@{name}")
        Comment.objects.filter(name_hit, pk__in=mentioned_in).update(
            body=_replace_all("body", departure.names, departure.placeholder_name)
        )
        CommentRevision.objects.filter(comment_id__in=mentioned_in).update(
            written=_replace_all("written", departure.names, departure.placeholder_name),
            shown=_replace_all("shown", departure.names, departure.placeholder_name),
        )
        Notification.objects.filter(
            dedupe_key__in=[
                f"mention:{pk}"
                for pk in CommentMention.objects.filter(member=member).values_list(
                    "comment_id", flat=True
                )
            ]
        ).update(body=_replace_all("body", departure.names, departure.placeholder_name))


def register() -> None:
    for section in (
        Section("offer_claims", _("优惠领取"), _("您领取的优惠和券码。"), offer_claims),
        Section(
            "registrations",
            _("活动报名与签到"),
            _("活动报名、候补、取消和签到记录。"),
            registrations,
        ),
        Section(
            "offer_waitlist",
            _("优惠候补"),
            _("您加入的优惠候补名单和为您保留的名额。"),
            offer_waitlist,
        ),
        Section("draw_entries", _("抽签"), _("您参加的抽签、报名编号和结果。"), draw_entries),
        Section("comments", _("评论"), _("您发表的评论和回复（显示的内容与审核结果）。"), comments),
        Section(
            "comment_revisions",
            _("评论修改记录"),
            _("每条评论每个版本的原文、显示内容和当时的 IP 地址。"),
            comment_revisions,
        ),
        Section("likes", _("点赞"), _("您点赞的内容和评论。"), likes),
        Section("comment_reports", _("举报"), _("您提交的评论举报。"), comment_reports),
        Section("mentions", _("被提及"), _("其他会员在评论中 @ 提到您的记录。"), mentions),
        Section(
            "activity_photos",
            _("活动照片"),
            _("您在活动照片墙上传的照片（图片文件在 activity_photos 文件夹中）和审核结果。"),
            activity_photos,
            files=activity_photo_files,
        ),
        Section("photo_reports", _("照片举报"), _("您提交的活动照片举报。"), photo_reports),
    ):
        register_section(section)
    register_eraser("community", erase_community_data)
