"""Posts members delete on Weibo after sharing: their share points are taken back.

The ``share_verified`` rule pays for a post on the member's public timeline. For
``SHARE_POST_CHECK_DAYS`` after a post went out, beat reads it back through ``statuses/show``
about once a day (``SHARE_POST_CHECK_INTERVAL``); when Weibo answers 20101 (the status does not
exist) the share is marked deleted and loyalty compensates the award: pending points are
withdrawn, spendable points taken back, each award once (``points_reverse_for_event``, keys
``undo:r<rule>:<natural key>``), and the member is told. Any other answer, a missing token or
a network failure decides nothing: the share is read again at the next check.

The award is per member and subject (``share:<member>:<subject>``), so it is taken back only
when no other post of the same thing by the member is still on Weibo.

Kept out of ``share/services.py``, which is past the size where a module splits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.locking import Lock, lock_one
from core.notifications import written_for
from members.services import member_token
from members.weibo.client import STATUS_NOT_FOUND, WeiboError, statuses_show
from share.models import Share

log = logging.getLogger(__name__)


def shares_to_check(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Ids of sent shares due a read-back: recent enough, not known deleted, not read within
    the interval; never-read first, then the longest unread."""
    now = now or timezone.now()
    limit = limit or settings.SHARE_POST_CHECK_BATCH
    due = now - timedelta(seconds=settings.SHARE_POST_CHECK_INTERVAL)
    shares = (
        Share.objects.filter(
            state=Share.State.SENT,
            deleted_on_weibo_at__isnull=True,
            sent_at__gte=now - timedelta(days=settings.SHARE_POST_CHECK_DAYS),
        )
        .exclude(weibo_status_id="")
        .filter(Q(post_checked_at__isnull=True) | Q(post_checked_at__lte=due))
        .order_by(F("post_checked_at").asc(nulls_first=True), "pk")
    )
    return list(shares.values_list("pk", flat=True)[:limit])


def share_post_check(*, share_id: int, now: datetime | None = None) -> bool:
    """Read one share's post back from Weibo; True when it is (now known to be) deleted.

    Safe to run twice: the Weibo call is a read, and the compensation happens once under the
    share's row lock.
    """
    now = now or timezone.now()
    share = Share.objects.select_related("member").filter(pk=share_id).first()
    if share is None or share.state != Share.State.SENT or not share.weibo_status_id:
        return False
    if share.deleted_on_weibo_at is not None:
        return True
    token = member_token(share.member)
    if token is None:
        return False  # no usable token: read it again once the member re-authorised
    try:
        statuses_show(access_token=token, status_id=share.weibo_status_id)
    except WeiboError as exc:
        if exc.code == STATUS_NOT_FOUND:
            return share_post_deleted(share_id=share.pk, now=now)
        log.info("share %s: statuses/show answered %s; reading it again later", share.pk, exc)
    except requests.RequestException as exc:
        log.info("share %s: statuses/show failed (%s); reading it again later", share.pk, exc)
        return False
    Share.objects.filter(pk=share.pk).update(post_checked_at=now)
    return False


def share_post_deleted(*, share_id: int, now: datetime | None = None) -> bool:
    """Weibo no longer has the post: mark the share and take back what it earned, once.

    Locks the share's row (it belongs to the member: the member rank of ``core.locking``) and
    then, through ``points_reverse_for_event``, the member and their points account, which is
    loyalty's own order.
    """
    from loyalty.models import Trigger
    from loyalty.services import points_reverse_for_event

    now = now or timezone.now()
    with transaction.atomic():
        share = lock_one(Lock.MEMBER, Share.objects.filter(pk=share_id))
        if share is None or share.deleted_on_weibo_at is not None:
            return share is not None
        share.deleted_on_weibo_at = now
        share.post_checked_at = now
        share.save(update_fields=["deleted_on_weibo_at", "post_checked_at", "updated_at"])
        member = share.member
        still_posted = (
            Share.objects.filter(
                member=member,
                subject_key=share.subject_key,
                state=Share.State.SENT,
                deleted_on_weibo_at__isnull=True,
            )
            .exclude(pk=share.pk)
            .exists()
        )
        taken = 0
        if not still_posted:
            with written_for(member.language):  # the reason and the notice are the member's
                reason = _("微博上的分享已删除：%(title)s") % {"title": share.subject_title}
                taken = points_reverse_for_event(
                    member=member, trigger=Trigger.SHARE_VERIFIED, natural_key=share.reward_key,
                    reason=reason, now=now,
                )  # fmt: skip
        audit_record(
            action="share.deleted_on_weibo",
            actor=None,
            target=member,
            after={"share": share.pk, "points_taken": taken, "reward_kept": still_posted},
            rule="share.post_check",
        )
    return True
