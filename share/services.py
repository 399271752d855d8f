"""Business actions of sharing: confirm, post (exactly once), sweep, count visits, attribute.

Posting discipline (the reason this module looks the way it does):

1. A share is created only by ``share_confirm``, with the exact text and picture the member saw.
2. ``share_post`` runs in a Celery task (``acks_late``) in three steps: claim the row under lock
   (state ``sending``, a lease, ``attempts + 1``, committed); call Weibo outside any transaction;
   record the outcome under lock. Two deliveries of the same task cannot both call Weibo: the
   second sees ``sending`` with a live lease and stops.
3. A worker that dies after claiming leaves ``sending`` with a lease that runs out; the sweeper
   queues the share again and the next attempt is *in doubt*: Weibo may hold the post already.
   The text carries a link unique to the member and subject, so posting it again can only be
   answered "repeat content" (20019) if the earlier attempt did reach Weibo — which then counts
   as sent, and nothing is posted twice.
4. Weibo's ``error_code`` decides, through ``members.weibo.errors`` (never the HTTP status):
   transient codes and lost answers retry with exponential backoff (every delay below the
   broker's visibility timeout); rate limits wait for Weibo's hourly window to turn, without
   asking Weibo in between; permanent errors fail at once with the reason, and the member may
   edit the text and share again; token errors wait for the member to authorise again, then
   resume. Every outcome is told to the member as it happened.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import random
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core import pagecache
from core.audit import audit_record
from core.counters import Buffer
from core.errors import DomainError
from core.models import Notification
from core.notifications import notify, written_for
from members.models import Member
from members.weibo import errors as weibo_errors
from members.weibo.errors import Action
from share.models import Share, ShareAttempt, ShareReferral, ShareVisit
from share.subjects import Subject
from share.text import fill_template, text_problems

log = logging.getLogger(__name__)

# What each Weibo error code means for a share is decided in one table (members.weibo.errors),
# shared with login and token checks; see docs/share.md.
REPEAT_CONTENT = 20019
MEMBER_WAIT = 3  # seconds a share waits while the same member's other share is in flight


def link_token(*, member: Member, subject_key: str) -> str:
    """Stable per member and subject (so the card is rendered once); unguessable without the key."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"share:{member.pk}:{subject_key}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode().rstrip("=")


def share_link(token: str) -> str:
    return f"{settings.SITE_URL}/s/{token}/"


def draft_text(*, member: Member, subject: Subject) -> tuple[str, str, str]:
    """(text, token, link) that the confirmation page proposes."""
    token = link_token(member=member, subject_key=subject.key)
    link = share_link(token)
    name = member.display_name or member.weibo_screen_name or ""
    return fill_template(subject.template, member=name, title=subject.title, link=link), token, link


# --- Share card ------------------------------------------------------------------------------


def _image_bytes(image) -> bytes | None:
    """A moderate rendition of a Wagtail image (the card crops it again)."""
    if image is None:
        return None
    try:
        rendition = image.get_rendition("max-1200x1200|format-jpeg")
        with rendition.file.open("rb") as handle:
            return handle.read()
    except Exception:  # a missing file must not stop a share; the card goes without a cover
        log.warning("share card: cover image %s unreadable", getattr(image, "pk", None))
        return None


def _photo_bytes(photo) -> bytes | None:
    """A member's wall photo: its re-encoded copy (pixels only), which the card crops."""
    try:
        with default_storage.open(photo.image_name, "rb") as handle:
            return handle.read()
    except (OSError, ValueError):
        log.warning("share card: photo %s unreadable", getattr(photo, "pk", None))
        return None


AVATAR_CACHE_SECONDS = 24 * 3600


def avatar_cache_key(url: str) -> str:
    return f"share:avatar:{hashlib.sha256(url.encode()).hexdigest()}"


def _avatar_bytes(member: Member) -> bytes | None:
    """The member's Weibo avatar, fetched once a day: the preview and the confirmation both need
    it (for the card's fingerprint), and neither should wait on Weibo's image servers again."""
    url = member.weibo_avatar_url
    if not url:
        return None
    key = avatar_cache_key(url)
    cached = cache.get(key)
    if cached is not None:
        return cached or None  # b"" remembers "no usable avatar"
    try:
        response = requests.get(url, timeout=(3, 5))
        ok = response.status_code == 200 and len(response.content) <= 2_000_000
        data = response.content if ok else b""
    except requests.RequestException:
        return None  # not remembered: the next try may reach Weibo
    cache.set(key, data, AVATAR_CACHE_SECONDS)
    return data or None


class CardUnavailable(Exception):
    """No card can be drawn here (no CJK font installed): share without one, and tell ops."""


def card_for(*, member: Member, subject: Subject, link: str, show_name: bool) -> str:
    """Storage name of the card JPEG, rendered once per content (member, subject, name choice)."""
    from share.card import CardContent, CardFontMissing, content_fingerprint, render_card

    name = (member.display_name or member.weibo_screen_name) if show_name else ""
    content = CardContent(
        title=subject.title,
        summary=subject.summary,
        link=link,
        tier_label=subject.tier_label,
        kind_label=subject.kind_label,
        member_name=name,
        member_avatar=_avatar_bytes(member) if show_name else None,
        cover_image=_photo_bytes(subject.photo) if subject.photo else _image_bytes(subject.cover),
        brand=settings.CLUB_NAME,
    )
    storage_name = f"share-cards/{content_fingerprint(content)}.jpg"
    if not default_storage.exists(storage_name):
        try:
            data = render_card(content)
        except CardFontMissing as error:
            log.error("share card not rendered: %s", error)
            raise CardUnavailable(str(error)) from error
        default_storage.save(storage_name, ContentFile(data))
    return storage_name


# --- Confirmation ----------------------------------------------------------------------------


def share_confirm(
    *,
    member: Member,
    subject: Subject,
    text: str,
    with_card: bool,
    show_name: bool,
    rip: str,
    confirmation_key: str,
) -> Share:
    """The member confirmed this exact text and picture: record the share and queue its posting.

    Confirming the same page twice (a double tap, a resubmitted form) gives the same share.
    """
    existing = Share.objects.filter(confirmation_key=confirmation_key, member=member).first()
    if existing:
        return existing
    token = link_token(member=member, subject_key=subject.key)
    link = share_link(token)
    text = text.strip()
    problems = text_problems(text, link=link)
    if problems:
        raise DomainError(" ".join(problems))
    card_name = ""
    if with_card:
        try:
            card_name = card_for(member=member, subject=subject, link=link, show_name=show_name)
        except CardUnavailable:
            with_card = False  # the post goes out with its text; the error log tells ops why
    try:
        with transaction.atomic():
            share = Share.objects.create(
                member=member, kind=subject.kind, item=subject.item,
                redemption=subject.redemption, tier=subject.tier, photo=subject.photo,
                subject_key=subject.key,
                subject_title=subject.title[:255], text=text, token=token, link=link,
                with_card=with_card, card_name=card_name, show_name=show_name, rip=rip,
                confirmation_key=confirmation_key, followers_at_share=member.weibo_followers,
            )  # fmt: skip
            _enqueue_on_commit(share.pk)
    except IntegrityError:
        existing = Share.objects.filter(confirmation_key=confirmation_key, member=member).first()
        if existing is None:
            raise
        return existing
    return share


def _enqueue_on_commit(share_id: int, countdown: float = 0) -> None:
    from share.tasks import post_share

    queue = settings.SHARE_QUEUE
    transaction.on_commit(
        lambda: post_share.apply_async((share_id,), countdown=countdown, queue=queue)
    )


# --- Posting ---------------------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=settings.SHARE_SENDING_LEASE)


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter, capped well below the broker's visibility timeout."""
    base = settings.SHARE_RETRY_BASE_DELAY * (2 ** max(attempt - 1, 0))
    delay = min(base, settings.SHARE_RETRY_MAX_DELAY)
    return delay * random.uniform(0.8, 1.2)


def _claim(share_id: int, now: datetime) -> tuple[Share | None, str | None, bool]:
    """Lock, check, mark in flight. Returns (share, token, in_doubt) or (None, reason, False)."""
    from members.services import member_token

    with transaction.atomic():
        share = Share.objects.select_for_update().select_related("member").get(pk=share_id)
        if share.state in {Share.State.SENT, Share.State.FAILED, Share.State.NEEDS_REAUTH}:
            return None, share.state, False
        if share.state == Share.State.SENDING and share.lease_until and share.lease_until > now:
            return None, "busy", False
        if share.state == Share.State.QUEUED and share.next_attempt_at and (
            share.next_attempt_at > now + timedelta(seconds=1)
        ):  # fmt: skip
            # Early (a wait longer than a broker countdown, or a redelivery): wait again.
            remaining = (share.next_attempt_at - now).total_seconds()
            _enqueue_on_commit(share.pk, countdown=min(remaining, settings.SHARE_RETRY_MAX_DELAY))
            return None, "not_due", False
        in_doubt = share.in_doubt or share.state == Share.State.SENDING
        if _member_blocked(share, in_doubt=in_doubt):
            # One post per member at a time, and an in-doubt one first: "repeat content" only
            # proves a lost post while it is still the member's latest post on Weibo.
            share.next_attempt_at = now + timedelta(seconds=MEMBER_WAIT)
            share.save(update_fields=["next_attempt_at", "updated_at"])
            _enqueue_on_commit(share.pk, countdown=MEMBER_WAIT)
            return None, "waiting_for_member", False
        token = member_token(share.member)
        if token is None:
            share.attempts += 1  # recorded as an attempt, though Weibo was not called
            _record(share, outcome=ShareAttempt.Outcome.REAUTH, started=now, code=None,
                    message="no usable token")  # fmt: skip
            share.state = Share.State.NEEDS_REAUTH
            share.in_doubt = in_doubt
            share.save(update_fields=["state", "attempts", "in_doubt", "updated_at"])
            return None, share.state, False
        share.state = Share.State.SENDING
        share.attempts += 1
        share.lease_until = now + _lease()
        share.in_doubt = in_doubt
        share.save(update_fields=["state", "attempts", "lease_until", "in_doubt", "updated_at"])
        return share, token, in_doubt


def _member_blocked(share: Share, *, in_doubt: bool) -> bool:
    """Another share of the member is in flight (or was, when its worker died: that one is in
    doubt until it is claimed again), or, for a fresh share, one is known to be in doubt."""
    busy = Q(state=Share.State.SENDING)
    if not in_doubt:
        busy |= Q(in_doubt=True, state__in=[Share.State.QUEUED, Share.State.NEEDS_REAUTH])
    return Share.objects.filter(busy, member_id=share.member_id).exclude(pk=share.pk).exists()


def _record(share: Share, *, outcome: str, started: datetime, code, message: str, number=None):
    """One row per attempt; only the worker holding the share's lease writes it."""
    ShareAttempt.objects.create(
        share=share, number=number if number is not None else share.attempts, outcome=outcome,
        error_code=code, message=message[:300], started_at=started,
    )  # fmt: skip


def _card_bytes(share: Share) -> bytes | None:
    if not (share.with_card and share.card_name):
        return None
    try:
        with default_storage.open(share.card_name, "rb") as handle:
            return handle.read()
    except OSError:
        log.warning("share %s: card %s missing, posting without it", share.pk, share.card_name)
        return None


def share_post(*, share_id: int, now: datetime | None = None) -> str:
    """Post one share to Weibo, exactly once whatever crashes or redeliveries happen around it."""
    from members.weibo import client as weibo

    started = now or timezone.now()
    share, token, in_doubt = _claim(share_id, started)
    if share is None:
        return token or ""
    attempt = share.attempts
    try:
        status = weibo.statuses_share(
            access_token=token, status=share.text, rip=share.rip, pic=_card_bytes(share)
        )
    except weibo.WeiboError as error:
        return _after_error(share_id, attempt, started, error.code, error.message,
                            http_status=error.http_status, in_doubt=in_doubt)  # fmt: skip
    except requests.RequestException as error:
        # The request may have reached Weibo: every later attempt is in doubt.
        return _after_error(share_id, attempt, started, None, type(error).__name__,
                            http_status=None, in_doubt=True)  # fmt: skip
    return _after_success(share_id, attempt, started, status)


def _locked_attempt(share_id: int, attempt: int) -> Share | None:
    share = Share.objects.select_for_update().select_related("member").get(pk=share_id)
    if share.state != Share.State.SENDING or share.attempts != attempt:
        # The lease ran out and another worker took over; its outcome is the one that counts.
        log.warning("share %s: attempt %s finished after losing its lease", share_id, attempt)
        return None
    return share


def _after_success(share_id: int, attempt: int, started: datetime, status: dict) -> str:
    now = timezone.now()
    with transaction.atomic():
        share = _locked_attempt(share_id, attempt)
        if share is None:
            return "stale"
        _mark_sent(share, now=now, status_id=str(status.get("idstr") or status.get("id") or ""),
                   uid=str((status.get("user") or {}).get("idstr") or ""))  # fmt: skip
        _record(share, outcome=ShareAttempt.Outcome.SENT, started=started, code=None, message="")
    return share.state


def _mark_sent(share: Share, *, now: datetime, status_id: str, uid: str) -> None:
    from loyalty.models import Trigger
    from loyalty.services import points_award_for_event

    share.state = Share.State.SENT
    share.sent_at = now
    share.weibo_status_id = status_id
    share.weibo_uid = uid or share.member.weibo_uid or ""
    share.lease_until = None
    share.last_error_code = None
    share.last_error = ""
    share.save(update_fields=["state", "sent_at", "weibo_status_id", "weibo_uid", "lease_until",
                              "last_error_code", "last_error", "updated_at"])  # fmt: skip
    points_award_for_event(
        member=share.member, trigger=Trigger.SHARE_VERIFIED, natural_key=share.reward_key,
        reference=("share", share.pk), now=now,
    )  # fmt: skip
    with written_for(share.member.language):
        notify(
            user_id=share.member.user_id, kind=Notification.Kind.SHARE_SENT,
            title=_("已分享到微博：%(title)s") % {"title": share.subject_title},
            link="/share/mine/", dedupe_key=f"share-sent:{share.pk}",
        )  # fmt: skip


def _rate_limit_reset(now: datetime) -> datetime:
    """When Weibo's rate-limit window turns: Weibo counts per clock hour (as
    ``account/rate_limit_status`` reports it), so the top of the next hour, plus a minute for
    clocks that differ (``SHARE_RATE_LIMIT_WINDOW`` is that hour, in seconds)."""
    window = settings.SHARE_RATE_LIMIT_WINDOW
    turns = (int(now.timestamp()) // window + 1) * window + window // 60
    return datetime.fromtimestamp(turns, tz=UTC)


def _outcomes(share: Share, outcome: str) -> int:
    return share.attempt_log.filter(outcome=outcome).count()


def _after_error(
    share_id: int, attempt: int, started: datetime, code: int | None, message: str, *,
    http_status: int | None, in_doubt: bool,
) -> str:  # fmt: skip
    """Record a refused or unanswered attempt and do what Weibo's code calls for (the HTTP
    status is kept in the log only: it does not decide)."""
    from members.services import member_token_invalidate

    now = timezone.now()
    rule = weibo_errors.classify(code)
    retry_in = None
    with transaction.atomic():
        share = _locked_attempt(share_id, attempt)
        if share is None:
            return "stale"
        share.last_error_code = code
        share.last_error = message[:300]
        share.lease_until = None
        if code == REPEAT_CONTENT and in_doubt:
            # Weibo already has exactly this text from this member: our lost attempt landed.
            _mark_sent(share, now=now, status_id="", uid="")
            _record(share, outcome=ShareAttempt.Outcome.CONFIRMED_REPEAT, started=started,
                    code=code, message=message)  # fmt: skip
            return share.state
        in_doubt = in_doubt or rule.in_doubt
        share.in_doubt = in_doubt
        title = {"title": share.subject_title}
        if rule.action == Action.REAUTH:
            share.state = Share.State.NEEDS_REAUTH
            outcome = ShareAttempt.Outcome.REAUTH
            member_token_invalidate(
                member=share.member, reason=f"{code} {message}", notify_member=False
            )
            with written_for(share.member.language):
                notify(
                    user_id=share.member.user_id, kind=Notification.Kind.SHARE_REAUTH,
                    title=_("分享等待你重新授权微博：%(title)s") % title,
                    body=f"{rule.reason} " + _("重新授权后会自动发布，不需要再确认一次。"),
                    link="/share/mine/", dedupe_key=f"share-reauth:{share.pk}:{attempt}",
                )  # fmt: skip
        elif (
            rule.action == Action.RATE_LIMIT
            and _outcomes(share, ShareAttempt.Outcome.RATE_LIMITED)
            < settings.SHARE_MAX_RATE_LIMIT_WAITS
        ):
            # Asking again before the window turns only spends the member's remaining calls.
            share.state = Share.State.QUEUED
            share.next_attempt_at = _rate_limit_reset(now)
            # A countdown may not wait in the broker for an hour: the message comes back early,
            # finds the share not due and waits again (``_claim``), until the window has turned.
            wait = (share.next_attempt_at - now).total_seconds()
            retry_in = max(1.0, min(wait, float(settings.SHARE_RETRY_MAX_DELAY)))
            outcome = ShareAttempt.Outcome.RATE_LIMITED
            # No notification: the share list says when it goes out, and the member hears
            # when it is sent (or, past the last wait, that the limit kept it back).
        elif rule.action == Action.RETRY and (
            _outcomes(share, ShareAttempt.Outcome.RETRY) + 1 < settings.SHARE_MAX_ATTEMPTS
        ):
            share.state = Share.State.QUEUED
            retry_in = retry_delay(attempt)
            if code is None or rule.in_doubt:
                # The answer was lost, not refused: Weibo may still be working on the request.
                # Wait at least a lease before asking again, so that "repeat content" can see it.
                retry_in = max(retry_in, float(settings.SHARE_SENDING_LEASE))
            share.next_attempt_at = now + timedelta(seconds=retry_in)
            outcome = ShareAttempt.Outcome.RETRY
        else:
            share.state = Share.State.FAILED
            outcome = ShareAttempt.Outcome.FAILED
            with written_for(share.member.language):
                notify(
                    user_id=share.member.user_id, kind=Notification.Kind.SHARE_FAILED,
                    title=_("分享未能发布：%(title)s") % title,
                    body=_failure_story(share, rule), link="/share/mine/",
                    dedupe_key=f"share-failed:{share.pk}:{attempt}",
                )  # fmt: skip
        share.save(update_fields=["state", "in_doubt", "next_attempt_at", "last_error_code",
                                  "last_error", "lease_until", "updated_at"])  # fmt: skip
        _record(share, outcome=outcome, started=started, code=code, message=message)
        if retry_in is not None:
            _enqueue_on_commit(share.pk, countdown=retry_in)
    return share.state


def _failure_story(share: Share, rule: weibo_errors.ErrorRule) -> str:
    """What really happened, in the member's words: refused at once, or given up after retries."""
    reason = str(rule.reason)
    if rule.action == Action.FAIL:
        told = _("微博拒绝了这条分享（错误码 %(code)s），没有重试。") % {"code": rule.code}
        advice = _("请修改文字后重新分享。") if rule.editable else _("可以稍后重新分享。")
        return f"{reason} {told}{advice}"
    if rule.action == Action.RATE_LIMIT:
        waited = _outcomes(share, ShareAttempt.Outcome.RATE_LIMITED)
        told = _("已等待微博的频率限制解除 %(n)s 次，仍未能发布。") % {"n": waited}
    else:
        tries = _outcomes(share, ShareAttempt.Outcome.RETRY) + 1
        told = _("已尝试 %(n)s 次仍未成功。") % {"n": tries}
    return f"{reason} {told}" + _("可以在“我的分享”里重试。")


# --- Recovery --------------------------------------------------------------------------------


def shares_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Queue again what a lost message, a dead worker or a re-authorisation left waiting.

    Safe to run at any time and as often as wanted: the posting task itself decides, under lock,
    whether there is anything to do.
    """
    now = now or timezone.now()
    grace = timedelta(seconds=settings.SHARE_SWEEP_GRACE)
    counts = {"lost": 0, "dead_worker": 0, "reauthorised": 0, "admitted": 0}
    with transaction.atomic():
        lost = list(
            Share.objects.filter(state=Share.State.QUEUED, updated_at__lte=now - grace)
            .exclude(next_attempt_at__gt=now - grace)
            .values_list("pk", flat=True)[:500]
        )
        dead = list(
            Share.objects.filter(state=Share.State.SENDING, lease_until__lt=now).values_list(
                "pk", flat=True
            )[:500]
        )
        resumable = list(
            Share.objects.select_for_update(skip_locked=True)
            .filter(
                state=Share.State.NEEDS_REAUTH,
                member__weibo_token_state=Member.TokenState.VALID,
                member__state=Member.State.MEMBER,
            )
            .values_list("pk", flat=True)[:500]
        )
        if resumable:
            Share.objects.filter(pk__in=resumable).update(
                state=Share.State.QUEUED, next_attempt_at=None, updated_at=now
            )
        for share_id in [*lost, *dead, *resumable]:
            _enqueue_on_commit(share_id)
    counts.update(lost=len(lost), dead_worker=len(dead), reauthorised=len(resumable))
    counts["admitted"] = referrals_sweep(now=now)
    return counts


def share_retry(*, member: Member, share_id: int) -> Share:
    """The member asks to try a failed or waiting share again (after fixing their token)."""
    with transaction.atomic():
        share = Share.objects.select_for_update().filter(pk=share_id, member=member).first()
        if share is None:
            raise DomainError(_("找不到这条分享。"))
        if share.state not in {Share.State.NEEDS_REAUTH, Share.State.FAILED}:
            raise DomainError(_("这条分享正在处理或已发布。"))
        if share.state == Share.State.FAILED and share.permanent_failure:
            raise DomainError(_("微博拒绝了这条分享，重试也会被拒绝；请修改后重新分享。"))
        share.state = Share.State.QUEUED
        share.next_attempt_at = None
        share.save(update_fields=["state", "next_attempt_at", "updated_at"])
        _enqueue_on_commit(share.pk)
    return share


# --- Landing visits and referrals ------------------------------------------------------------


_VISITS_COUNTING = "share:visits"
_VISITS_FLUSHING = "share:visits:flushing"


def _write_visits(pipeline, visits) -> None:
    key = cache.make_key(_VISITS_COUNTING)
    first: dict[tuple, float] = {}
    for share_id, visitor, day, stamp in visits:
        first.setdefault((share_id, visitor, day), stamp)
    for (share_id, visitor, day), stamp in first.items():
        pipeline.rpush(key, f"{share_id}|{visitor}|{day}|{stamp}")


_visits = Buffer(_write_visits, counting=False)


def share_visit_count(*, share_id: int, visitor: str, now: datetime | None = None) -> None:
    """Count a visitor of a landing page without touching the database or Redis on the request
    (landing pages are served from the page cache in a burst): the visit is kept in memory,
    handed to Redis once a second (``core.counters``) and written by ``share_visits_flush``;
    the table's unique constraint keeps one visit per visitor and day."""
    now = now or timezone.now()
    day = timezone.localdate(now).isoformat()
    _visits.add((share_id, visitor[:64], day, now.timestamp()))


def share_visits_flush() -> int:
    """Write the visits counted in Redis as ``ShareVisit`` rows (unique per share, visitor
    and day, so a batch written twice after a crash adds nothing). Returns rows written."""
    _visits.flush()  # what this process counted last
    client = pagecache.redis_client()
    counting, flushing = cache.make_key(_VISITS_COUNTING), cache.make_key(_VISITS_FLUSHING)
    if not client.exists(flushing):
        if not client.exists(counting):
            return 0
        client.rename(counting, flushing)
    visits = []
    for raw in client.lrange(flushing, 0, -1):
        share_id, visitor, day, stamp = raw.decode().split("|", 3)
        visits.append(ShareVisit(
            share_id=int(share_id), visitor=visitor, day=datetime.fromisoformat(day).date(),
            created_at=datetime.fromtimestamp(float(stamp), tz=timezone.get_current_timezone()),
        ))  # fmt: skip
    existing = set(Share.objects.filter(pk__in={v.share_id for v in visits}).values_list(
        "pk", flat=True))  # fmt: skip
    written = ShareVisit.objects.bulk_create(
        [v for v in visits if v.share_id in existing], ignore_conflicts=True, batch_size=1000
    )
    client.delete(flushing)
    return len(written)


def _newcomer(member: Member) -> bool:
    """Whether the member may be someone a share brought: admitted or applying, with one
    consent only (the one that created their record).

    A member who accepts a new version of the consent text passes the consent page again,
    perhaps with a referral cookie from a landing page they visited; that is not a referral
    (the consent view asks for one only when the acceptance created the member, and this
    refuses anyone with an earlier consent).
    """
    if member.state not in (Member.State.APPLICANT, Member.State.MEMBER):
        return False
    return member.consents.count() == 1


def referral_attach(*, member: Member, share_id: int, now: datetime | None = None) -> bool:
    """An outsider who came through a share has applied: attribute them and reward the sharer.

    Nothing for the sharer's own account, for a member already attributed, for anyone who is
    not new to the club (``_newcomer``: a member renewing consent is no referral), or (for the
    reward) for an account that looks like a zombie. The reward is loyalty's award inside this
    transaction, so it inherits loyalty's lock order (the sharer's member row, then their points
    account); the audit entry takes no lock. ``tests/community/test_lock_order.py`` races it
    against a tier change of the sharer.
    """
    from loyalty.models import Trigger
    from loyalty.services import points_award_for_event

    now = now or timezone.now()
    share = Share.objects.select_related("member").filter(pk=share_id).first()
    if share is None or share.member_id == member.pk or not _newcomer(member):
        return False
    with transaction.atomic():
        referral, created = ShareReferral.objects.get_or_create(
            member=member, defaults={"share": share, "applied_at": now}
        )
        if not created:
            return False
        if not member.zombie_suspected:
            points_award_for_event(
                member=share.member, trigger=Trigger.SHARE_REFERRAL_APPLIED,
                natural_key=f"share-ref-applied:{member.pk}", reference=("member", member.pk),
                now=now,
            )  # fmt: skip
        audit_record(
            action="share.referral_applied", target=member, rule="share.referral",
            after={"share": share.pk, "sharer": share.member_id},
        )  # fmt: skip
    return True


def referrals_sweep(*, now: datetime | None = None) -> int:
    """Admitted since they applied through a share: the second stage of the sharer's reward."""
    from loyalty.models import Trigger
    from loyalty.services import points_award_for_event

    now = now or timezone.now()
    pending = list(
        ShareReferral.objects.filter(
            admitted_at__isnull=True, member__state=Member.State.MEMBER
        ).select_related("member", "share__member")[:500]
    )
    for referral in pending:
        with transaction.atomic():
            updated = ShareReferral.objects.filter(pk=referral.pk, admitted_at__isnull=True).update(
                admitted_at=referral.member.joined_at or now
            )
            if not updated:
                continue
            if not referral.member.zombie_suspected:
                points_award_for_event(
                    member=referral.share.member, trigger=Trigger.SHARE_REFERRAL_ADMITTED,
                    natural_key=f"share-ref-admitted:{referral.member_id}",
                    reference=("member", referral.member_id), now=now,
                )  # fmt: skip
    return len(pending)
