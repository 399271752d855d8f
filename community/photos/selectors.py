"""Reads of photo walls, each answered through the gate.

A wall is part of its activity's gated content: members for whom the gate says FULL see its
published photos; a viewer with the teaser sees only the photos on the public teaser (featured
by staff, agreed by their member); nobody else learns it exists. The owner of a photo always
sees it (in any state until they withdraw it) so they know what became of it. A wall page
costs the same number of queries however many photos it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from community import gate
from community.models import ActivityPage, ActivityPhoto, PhotoReport
from community.photos import services
from members.selectors import ViewerStatus

State = ActivityPhoto.State
WALL_PER_PAGE = 60
STRIP_SIZE = 8
TEASER_SIZE = 6


def _member_of(viewer: ViewerStatus):
    return viewer.member if viewer.member is not None else None


def photo_access(viewer: ViewerStatus, photo: ActivityPhoto, activity: ActivityPage) -> bool:
    """Whether ``viewer`` may see this photo's picture (file, thumbnail, wall entry)."""
    if not photo.ready:
        return False
    if viewer.kind == "staff":
        return True
    member = _member_of(viewer)
    if member is not None and member.pk == photo.member_id and viewer.kind != "left":
        return True
    if photo.state != State.PUBLISHED:
        return False
    decision = gate.decide(viewer, activity, gate.Surface.IMAGE)
    if decision.full:
        return True
    return decision.visible and photo.on_teaser


def published(activity_id: int) -> QuerySet[ActivityPhoto]:
    return ActivityPhoto.objects.filter(activity_id=activity_id, state=State.PUBLISHED)


def teaser_photos(activity: ActivityPage, limit: int = TEASER_SIZE) -> list[ActivityPhoto]:
    """The public teaser's photos: featured by staff, and only where the member agreed."""
    return list(
        published(activity.pk)
        .filter(featured=True, public_consent=True)
        .exclude(image_name="")
        .order_by("-published_at", "-pk")[:limit]
    )


@dataclass
class Wall:
    activity: ActivityPage
    decision: gate.Decision
    photos: list[ActivityPhoto]  # what the viewer sees of the wall
    pager: Page | None
    total: int
    own_pending: list[ActivityPhoto]  # the member's photos others do not see (yet)
    can_post: bool
    remaining: int
    closes_at: object
    reason: str  # why the member cannot post, "" when they can


def _posting(activity: ActivityPage, viewer: ViewerStatus, decision: gate.Decision):
    """(can_post, remaining, reason) for the viewer; no query unless the wall is open."""
    member = _member_of(viewer)
    if activity.photo_limit <= 0:
        return False, 0, ""
    if not viewer.is_member or member is None or not decision.full:
        return False, 0, "not_member"
    if not services.wall_open(activity, timezone.now()):
        return False, 0, "closed"
    if not services.checked_in(activity, member):
        return False, 0, "not_checked_in"
    remaining = max(activity.photo_limit - services.photos_counted(activity, member), 0)
    return remaining > 0, remaining, "" if remaining else "limit"


def wall(
    *,
    activity: ActivityPage,
    viewer: ViewerStatus,
    page_number=None,
    per_page: int = WALL_PER_PAGE,
    surface: gate.Surface = gate.Surface.PAGE,
) -> Wall | None:
    """The wall as ``viewer`` sees it on ``surface``; None when the gate hides the activity."""
    decision = gate.decide(viewer, activity, surface)
    if not decision.visible:
        return None
    member = _member_of(viewer)
    own_pending: list[ActivityPhoto] = []
    if member is not None and viewer.kind != "left":
        own_pending = list(
            ActivityPhoto.objects.filter(activity_id=activity.pk, member_id=member.pk)
            .exclude(state__in=[State.PUBLISHED, State.WITHDRAWN])
            .order_by("-created_at", "-pk")
        )
    if not decision.full:
        photos = teaser_photos(activity)
        return Wall(activity, decision, photos, None, len(photos), own_pending, False, 0,
                    None, "not_member")  # fmt: skip
    query = published(activity.pk).select_related("member").order_by("-published_at", "-pk")
    paginator = Paginator(query, per_page)
    pager = paginator.get_page(page_number)
    can_post, remaining, reason = _posting(activity, viewer, decision)
    return Wall(
        activity, decision, list(pager.object_list), pager, paginator.count, own_pending,
        can_post, remaining, services.wall_closes_at(activity), reason,
    )  # fmt: skip


def wall_strip(*, activity: ActivityPage, viewer: ViewerStatus, decision: gate.Decision) -> dict:
    """The item page's photo section: a few latest photos (or the teaser's), and the count.

    An activity without a wall (limit 0, the default) costs the item page no query at all."""
    if activity.photo_limit <= 0:
        return {}
    if not decision.full:
        photos = teaser_photos(activity)
        return {"photo_strip": photos, "photo_total": len(photos)} if photos else {}
    rows = list(published(activity.pk).order_by("-published_at", "-pk")[:STRIP_SIZE])
    total = len(rows) if len(rows) < STRIP_SIZE else published(activity.pk).count()
    can_post, remaining, reason = _posting(activity, viewer, decision)
    return {"photo_strip": rows, "photo_total": total, "photo_can_post": can_post,
            "photo_remaining": remaining, "photo_reason": reason}  # fmt: skip


def photo_status(photo: ActivityPhoto) -> dict:
    """What the member's upload page polls: state, progress and, when it failed, why."""
    return {
        "id": photo.pk,
        "state": photo.state,
        "state_label": str(photo.get_state_display()),
        "progress": photo.progress,
        "error": photo.error,
        "done": photo.state != State.PROCESSING,
        "thumb": f"/community/photos/{photo.pk}/thumb.jpg" if photo.ready else "",
    }


# --- staff ------------------------------------------------------------------------------------


def moderation_queue() -> QuerySet[ActivityPhoto]:
    """Held photos, published ones with open reports, and unreviewed keyword flags."""
    open_reports = Count("reports", filter=Q(reports__state=PhotoReport.State.OPEN))
    return (
        ActivityPhoto.objects.annotate(open_reports=open_reports)
        .filter(
            Q(state=State.HELD)
            | Q(state=State.PUBLISHED, open_reports__gt=0)
            | Q(state=State.PUBLISHED, flagged=True, decided_at__isnull=True)
        )
        .select_related("activity", "member__tier")
        .order_by("created_at", "pk")
    )


def queue_count() -> int:
    return moderation_queue().count()


def open_reports_of(photo_ids: list[int]) -> dict[int, list[PhotoReport]]:
    by_photo: dict[int, list[PhotoReport]] = {}
    for report in (
        PhotoReport.objects.filter(photo_id__in=photo_ids, state=PhotoReport.State.OPEN)
        .select_related("reporter")
        .order_by("created_at")
    ):
        by_photo.setdefault(report.photo_id, []).append(report)
    return by_photo
