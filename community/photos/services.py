"""Business actions of photo walls: upload, processing, withdrawal, reports, moderation.

Invariants:

- Only an admitted member for whom the gate says FULL, checked in at the activity, posts; the
  per-member limit is counted with the member row locked (``core.locking``: member first), so
  two uploads at once cannot both take the last place.
- The member's file is stored as sent only under ``photos/originals/`` (never served) and is
  deleted once a worker re-encoded it (``community.photos.images``); the task is safe to run
  twice: it does nothing unless the photo is still ``processing``.
- Captions are screened by the same keyword rules as comments: block refuses the upload, hold
  sends the photo to the moderation queue whatever the activity's mode, censor masks the words,
  flag alerts moderators.
- Every decision (automatic or by staff) and every change of what members see writes an audit
  entry in the same transaction; the poster is told of a moderator's decision.
- Approval (pre-moderation) or publication (post-moderation) earns points once, through
  loyalty's ``photo_approved`` rules, whose caps apply. That call locks the points account
  after the photo row; no service here locks anything loyalty locks first.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community import gate
from community.interaction import moderation
from community.media_upload import ImageRejected
from community.models import ActivityPage, ActivityPhoto, PhotoReport, Registration
from community.models_interaction import CommentReport, ModerationKeyword
from community.participation.services.access import lock_member
from community.photos import images
from core import pagecache
from core.audit import audit_record
from core.errors import DomainError, NotFound, PermissionDenied
from core.events import STAFF_GROUP, publish_on_commit
from core.models import Notification
from core.notifications import notify
from members.models import Member
from members.selectors import ViewerStatus

log = logging.getLogger(__name__)

Action = ModerationKeyword.Action
State = ActivityPhoto.State
MAX_CAPTION_LENGTH = 200
MAX_REASON_LENGTH = 1000
ORIGINALS_PREFIX = "photos/originals/"
# What counts against the member's limit: everything not refused, failed or taken back.
COUNTED_STATES = (State.PROCESSING, State.HELD, State.PUBLISHED, State.REMOVED)


class PhotosNotAllowed(PermissionDenied):
    code = "photos_not_allowed"
    default_message = gettext_lazy("只有在这个活动签到过的会员才能发照片。")


class PhotoWallClosed(DomainError):
    code = "photo_wall_closed"
    default_message = gettext_lazy("这个活动的照片墙现在不接受新照片。")


class PhotoLimitReached(DomainError):
    code = "photo_limit_reached"
    default_message = gettext_lazy("您在这个活动已经发了允许的全部照片。")


class PhotoRejected(DomainError):
    code = "photo_rejected"
    default_message = gettext_lazy("这张图片不能上传。")


class PhotoBlocked(DomainError):
    code = "photo_blocked"
    default_message = gettext_lazy("照片说明包含不允许发布的内容，未能发布。")


class NotYourPhoto(PermissionDenied):
    code = "not_your_photo"
    default_message = gettext_lazy("只能删除自己的照片。")


class PhotoAlreadyReported(DomainError):
    code = "photo_already_reported"
    default_message = gettext_lazy("您已经举报过这张照片，审核员会尽快处理。")


class PhotoDecisionNotApplicable(DomainError):
    code = "photo_decision_not_applicable"
    default_message = gettext_lazy("这张照片当前的状态不能进行此操作。")


class PhotoReasonRequired(DomainError):
    code = "photo_reason_required"
    default_message = gettext_lazy("请填写处理原因。")


# --- rules ------------------------------------------------------------------------------------


def wall_closes_at(activity: ActivityPage) -> datetime | None:
    """The wall takes photos until this many days after the event ended (or started)."""
    end = activity.ends_at or activity.starts_at
    if end is None:
        return None
    return end + timedelta(days=activity.photo_window_days)


def wall_open(activity: ActivityPage, now: datetime) -> bool:
    """Open while the activity allows photos and its window has not closed; no dates, closed."""
    closes = wall_closes_at(activity)
    return activity.photo_limit > 0 and closes is not None and now < closes


def checked_in(activity: ActivityPage, member: Member) -> bool:
    return Registration.objects.filter(
        activity=activity, member=member, state=Registration.State.ATTENDED
    ).exists()


def photos_counted(activity: ActivityPage, member: Member) -> int:
    return ActivityPhoto.objects.filter(
        activity=activity, member=member, state__in=COUNTED_STATES
    ).count()


def _require_poster(member: Member, activity: ActivityPage, now: datetime) -> None:
    if member.state != Member.State.MEMBER:
        raise PhotosNotAllowed
    viewer = ViewerStatus("member", tier=member.tier, member=member)
    decision = gate.decide(viewer, activity, gate.Surface.PAGE, now)
    if not decision.visible:
        raise NotFound
    if not decision.full or not checked_in(activity, member):
        raise PhotosNotAllowed
    if not wall_open(activity, now):
        raise PhotoWallClosed


def _clean_caption(caption: str) -> str:
    caption = " ".join((caption or "").split())
    if len(caption) > MAX_CAPTION_LENGTH:
        raise PhotoRejected(
            _("照片说明最多 %(limit)s 个字，现在有 %(count)s 个字。")
            % {"limit": MAX_CAPTION_LENGTH, "count": len(caption)}
        )
    return caption


def _blocked(verdict: moderation.Verdict) -> PhotoBlocked:
    match = verdict.decisive
    message = _("照片说明包含不允许发布的词语「%(word)s」，未能发布。请修改后再试。") % {
        "word": match.written
    }
    if match.rule.note:
        message += _("（规则：%(note)s）") % {"note": match.rule.note}
    return PhotoBlocked(message, word=match.rule.word)


def _count_hits(verdict: moderation.Verdict) -> None:
    if verdict.rule_ids:
        ModerationKeyword.objects.filter(pk__in=verdict.rule_ids).update(
            hits=F("hits") + 1, last_hit_at=timezone.now()
        )


def _bump_if_on_teaser(*photos: ActivityPhoto) -> None:
    """The public teaser (kept for outsiders in the page cache) shows featured photos whose
    members agreed: a change to one of those must reach outsiders on their next request."""
    if any(photo.featured and photo.public_consent for photo in photos):
        pagecache.bump()


def _delete_files(*names: str) -> None:
    """Delete stored files after commit (a rolled-back transaction keeps them)."""

    def delete() -> None:
        for name in names:
            if name:
                try:
                    default_storage.delete(name)
                except Exception:  # noqa: BLE001 - storage away: logged, the row says deleted
                    log.exception("photo file %s not deleted", name)

    transaction.on_commit(delete)


# --- upload and processing --------------------------------------------------------------------


def photo_upload(
    *,
    member: Member,
    activity: ActivityPage,
    upload,
    caption: str = "",
    public_consent: bool = False,
    upload_key: str,
    ip: str | None = None,
) -> ActivityPhoto:
    """Store the member's file as an unprocessed original and queue its processing.

    The header is checked here (format, pixel count, size) so a refusal is immediate; the
    pixels are decoded only by the worker. The same ``upload_key`` twice gives the same photo.
    """
    existing = ActivityPhoto.objects.filter(upload_key=upload_key, member=member).first()
    if existing is not None:
        return existing
    caption = _clean_caption(caption)
    now = timezone.now()
    _require_poster(member, activity, now)  # early, without locks: nothing is stored yet
    size = getattr(upload, "size", None) or 0
    if size > images.max_upload_bytes():
        raise PhotoRejected(
            _("照片太大（%(size)s MB），最大 %(limit)s MB。")
            % {"size": f"{size / 1048576:.1f}", "limit": images.max_upload_bytes() // 1048576}
        )
    upload.seek(0)
    data = upload.read(images.max_upload_bytes() + 1)
    if len(data) > images.max_upload_bytes():
        raise PhotoRejected(_("照片太大，最大 %(limit)s MB。") % {
            "limit": images.max_upload_bytes() // 1048576})  # fmt: skip
    try:
        images.inspect(data)
    except ImageRejected as rejected:
        raise PhotoRejected(rejected.message) from None
    verdict = moderation.screen(caption) if caption else moderation.Verdict(text="", shown="")
    if verdict.action == Action.BLOCK:
        with transaction.atomic():
            _count_hits(verdict)
            audit_record(
                action="photo.auto_block", target=activity, rule=verdict.rule_label, ip=ip,
                after={"member_id": member.pk, "keywords": verdict.words},
            )  # fmt: skip
        raise _blocked(verdict)
    original = default_storage.save(f"{ORIGINALS_PREFIX}{upload_key}", ContentFile(data))
    try:
        with transaction.atomic():
            member = lock_member(member)
            _require_poster(member, activity, now)
            if photos_counted(activity, member) >= activity.photo_limit:
                raise PhotoLimitReached(
                    _("您在这个活动最多可以发 %(limit)s 张照片，已经发满了。")
                    % {"limit": activity.photo_limit}
                )
            _count_hits(verdict)
            photo = ActivityPhoto.objects.create(
                activity=activity, member=member, original_name=original,
                caption=verdict.shown if caption else "", caption_written=caption,
                public_consent=bool(public_consent), state=State.PROCESSING, progress=10,
                moderation_action=verdict.action, matched_keywords=verdict.words,
                flagged=verdict.action == Action.FLAG, upload_key=upload_key, created_at=now,
            )  # fmt: skip
            audit_record(
                action="photo.uploaded", target=photo, ip=ip, rule=verdict.rule_label,
                after={"activity_id": activity.pk, "keywords": verdict.words,
                       "public_consent": photo.public_consent},
            )  # fmt: skip
            _enqueue_processing(photo.pk)
    except IntegrityError:
        default_storage.delete(original)
        existing = ActivityPhoto.objects.filter(upload_key=upload_key, member=member).first()
        if existing is None:
            raise
        return existing
    except BaseException:
        default_storage.delete(original)
        raise
    return photo


def _enqueue_processing(photo_id: int) -> None:
    from community.tasks import process_photo

    process_photo.delay_on_commit(photo_id)


def _set_progress(photo_id: int, progress: int) -> None:
    ActivityPhoto.objects.filter(pk=photo_id, state=State.PROCESSING).update(progress=progress)


def photo_process(*, photo_id: int) -> str:
    """Decode and re-encode an uploaded photo; its state afterwards. Safe to run twice.

    The pixels are handled outside any transaction (it takes a moment); the outcome is
    recorded under the photo's row lock, and only if the photo is still ``processing``.
    """
    photo = ActivityPhoto.objects.filter(pk=photo_id).first()
    if photo is None or photo.state != State.PROCESSING:
        return photo.state if photo else "missing"
    _set_progress(photo_id, 40)
    try:
        with default_storage.open(photo.original_name, "rb") as handle:
            data = handle.read(images.max_upload_bytes() + 1)
        processed = images.process(data)
        failure = ""
    except ImageRejected as rejected:
        processed, failure = None, rejected.message
    except FileNotFoundError:
        processed, failure = None, _("上传的文件已丢失，请重新上传。")
    image_name = thumb_name = ""
    if processed is not None:
        _set_progress(photo_id, 80)
        base = f"photos/{photo.activity_id}/{photo.upload_key}"
        image_name = default_storage.save(f"{base}.jpg", ContentFile(processed.image))
        thumb_name = default_storage.save(f"{base}_t.jpg", ContentFile(processed.thumb))
    with transaction.atomic():
        photo = (
            ActivityPhoto.objects.select_for_update(of=("self",))
            .select_related("activity", "member")
            .get(pk=photo_id)
        )
        if photo.state != State.PROCESSING:  # another run finished first
            _delete_files(image_name, thumb_name)
            return photo.state
        now = timezone.now()
        photo.processed_at = now
        photo.progress = 100
        if processed is None:
            photo.state = State.FAILED
            photo.error = failure[:300]
            audit_record(action="photo.processing_failed", target=photo,
                         after={"error": photo.error})  # fmt: skip
        else:
            photo.image_name, photo.thumb_name = image_name, thumb_name
            photo.width, photo.height = processed.width, processed.height
            pre = photo.activity.photo_moderation == ActivityPage.PhotoModeration.PRE
            if pre or photo.moderation_action == Action.HOLD:
                photo.state = State.HELD
                publish_on_commit(STAFF_GROUP, {"type": "photo.held", "photo_id": photo.pk,
                                                "page_id": photo.activity_id})  # fmt: skip
            else:
                photo.state = State.PUBLISHED
                photo.published_at = now
                if photo.flagged:
                    publish_on_commit(STAFF_GROUP, {"type": "photo.flagged",
                                                    "photo_id": photo.pk,
                                                    "page_id": photo.activity_id})  # fmt: skip
            audit_record(
                action=f"photo.{'published' if photo.state == State.PUBLISHED else 'held'}",
                target=photo, rule=f"activity:{photo.activity.photo_moderation}",
                after={"state": photo.state, "activity_id": photo.activity_id},
            )  # fmt: skip
        original, photo.original_name = photo.original_name, ""
        photo.save(update_fields=[
            "state", "progress", "error", "processed_at", "published_at", "image_name",
            "thumb_name", "width", "height", "original_name",
        ])  # fmt: skip
        _delete_files(original)
        if photo.state == State.PUBLISHED:
            photo_published(photo)
    return photo.state


def photo_published(photo: ActivityPhoto) -> None:
    """A photo became visible on its wall: the loyalty rules for photos award points, once."""
    from loyalty.services import points_award_for_event

    points_award_for_event(
        member=photo.member, trigger="photo_approved", natural_key=f"photo:{photo.pk}",
        reference=photo,
    )  # fmt: skip


# --- the member's own actions -----------------------------------------------------------------


def photo_withdraw(*, member: Member, photo: ActivityPhoto, ip: str | None = None) -> ActivityPhoto:
    """The member takes their own photo down, at any time and in any state; its files go.

    The row stays (without caption) so the audit trail and any points awarded keep their
    reference; nothing of the picture is kept.
    """
    with transaction.atomic():
        photo = ActivityPhoto.objects.select_for_update(of=("self",)).get(pk=photo.pk)
        if photo.member_id != member.pk:
            raise NotYourPhoto
        if photo.state == State.WITHDRAWN:
            return photo
        before = {"state": photo.state, "featured": photo.featured}
        _bump_if_on_teaser(photo)
        files = (photo.original_name, photo.image_name, photo.thumb_name)
        photo.state = State.WITHDRAWN
        photo.withdrawn_at = timezone.now()
        photo.original_name = photo.image_name = photo.thumb_name = ""
        photo.caption = photo.caption_written = ""
        photo.featured = False
        photo.save(
            update_fields=["state", "withdrawn_at", "original_name", "image_name", "thumb_name",
                           "caption", "caption_written", "featured"]
        )  # fmt: skip
        photo.reports.filter(state=PhotoReport.State.OPEN).update(
            state=PhotoReport.State.DISMISSED, resolved_at=photo.withdrawn_at
        )
        audit_record(action="photo.withdrawn", actor=member.user, target=photo, ip=ip,
                     before=before, after={"state": photo.state})  # fmt: skip
        _delete_files(*files)
    return photo


REPORT_REASONS = CommentReport.Reason


def photo_report(
    *, member: Member, photo: ActivityPhoto, reason: str, detail: str = "", ip: str | None = None
) -> PhotoReport:
    """A member who may see the photo reports it: it appears in the moderation queue."""
    if reason not in REPORT_REASONS.values:
        raise DomainError(_("请选择举报原因。"))
    with transaction.atomic():
        photo = ActivityPhoto.objects.select_related("activity").get(pk=photo.pk)
        viewer = ViewerStatus(member.state, tier=member.tier, member=member)
        if (
            not member.is_admitted
            or photo.state != State.PUBLISHED
            or not gate.decide(viewer, photo.activity, gate.Surface.PAGE).full
        ):
            raise NotFound
        if photo.member_id == member.pk:
            raise DomainError(_("不能举报自己的照片。"))
        try:
            with transaction.atomic():
                report = PhotoReport.objects.create(
                    photo=photo, reporter=member, reason=reason, detail=(detail or "")[:500]
                )
        except IntegrityError:
            raise PhotoAlreadyReported from None
        audit_record(action="photo.reported", actor=member.user, target=photo, ip=ip,
                     after={"reason": reason})  # fmt: skip
        publish_on_commit(STAFF_GROUP, {"type": "photo.reported", "photo_id": photo.pk,
                                        "page_id": photo.activity_id})  # fmt: skip
    return report


# --- moderators -------------------------------------------------------------------------------


class PhotoDecision:
    APPROVE = "approve"
    REJECT = "reject"
    FEATURE = "feature"
    UNFEATURE = "unfeature"
    ALL = (APPROVE, REJECT, FEATURE, UNFEATURE)


def _tell_author(photo: ActivityPhoto, *, title: str, body: str = "") -> None:
    notify(
        user_id=photo.member.user_id, kind=Notification.Kind.MODERATION, title=title, body=body,
        link=f"/community/activities/{photo.activity_id}/photos/#photo-{photo.pk}",
    )  # fmt: skip


def photo_moderate(
    *, photo: ActivityPhoto, actor, decision: str, reason: str = "", ip: str | None = None
) -> ActivityPhoto:
    """A moderator approves, rejects (soft-removes when published), features or unfeatures.

    Approving a held photo publishes it (and earns its points); approving a reported one
    dismisses the reports. Rejecting keeps the row and the files for the record (留痕), shows
    the picture to nobody but staff, upholds open reports and tells the poster why.
    """
    if decision not in PhotoDecision.ALL:
        raise DomainError(_("请选择通过、驳回或精选。"))
    reason = (reason or "").strip()[:MAX_REASON_LENGTH]
    if decision == PhotoDecision.REJECT and not reason:
        raise PhotoReasonRequired
    with transaction.atomic():
        photo = (
            ActivityPhoto.objects.select_for_update(of=("self",))
            .select_related("activity", "member")
            .get(pk=photo.pk)
        )
        now = timezone.now()
        open_reports = photo.reports.filter(state=PhotoReport.State.OPEN)
        before = {"state": photo.state, "featured": photo.featured,
                  "open_reports": open_reports.count()}  # fmt: skip
        was_visible_on_teaser = photo.on_teaser
        if decision == PhotoDecision.APPROVE:
            reviewable = photo.state == State.PUBLISHED and (
                before["open_reports"] or (photo.flagged and photo.decided_at is None)
            )
            if photo.state not in (State.HELD, State.REJECTED) and not reviewable:
                raise PhotoDecisionNotApplicable
            newly = photo.state != State.PUBLISHED
            photo.state = State.PUBLISHED
            photo.published_at = photo.published_at or now
            action = "photo.approved"
            upheld = False
        elif decision == PhotoDecision.REJECT:
            if photo.state == State.HELD:
                photo.state, action = State.REJECTED, "photo.rejected"
            elif photo.state == State.PUBLISHED:
                photo.state, action = State.REMOVED, "photo.removed_by_moderator"
            else:
                raise PhotoDecisionNotApplicable
            photo.featured = False
            newly, upheld = False, True
        else:
            if photo.state != State.PUBLISHED:
                raise PhotoDecisionNotApplicable
            photo.featured = decision == PhotoDecision.FEATURE
            action = f"photo.{decision}d"
            newly, upheld = False, None
        photo.decided_by, photo.decided_at, photo.decision_reason = actor, now, reason
        photo.save(update_fields=["state", "featured", "published_at", "decided_by",
                                  "decided_at", "decision_reason"])  # fmt: skip
        closed = 0
        if upheld is not None:
            closed = open_reports.update(
                state=PhotoReport.State.UPHELD if upheld else PhotoReport.State.DISMISSED,
                resolved_by=actor, resolved_at=now,
            )  # fmt: skip
        audit_record(
            action=action, actor=actor, target=photo, before=before, reason=reason, ip=ip,
            after={"state": photo.state, "featured": photo.featured, "reports_closed": closed},
        )  # fmt: skip
        if was_visible_on_teaser or photo.on_teaser:
            pagecache.bump()
        if decision == PhotoDecision.APPROVE and newly:
            photo_published(photo)
            _tell_author(photo, title=_("您的照片已通过审核"))
        elif decision == PhotoDecision.REJECT:
            _tell_author(photo, title=_("您的照片未通过审核"), body=reason)
        elif decision == PhotoDecision.FEATURE:
            _tell_author(photo, title=_("您的照片被选为精选照片"))
    return photo
