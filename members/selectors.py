"""Reads about members."""

from __future__ import annotations

import calendar
import time as time_module
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.models import AuditEntry
from members.defaults import FIRST_CONSENT, FIRST_CONSENT_TITLE
from members.models import (
    AdmissionSettings,
    Application,
    Consent,
    ConsentText,
    Member,
    Tier,
    ZombieAudience,
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


def viewer_status(user, *, loaded_with_user: bool = False) -> ViewerStatus:
    """``loaded_with_user``: the user was loaded for this request, with their member and tier
    (``members.auth``), so those are fresh; any other user object reads them again."""
    if user is None or not user.is_authenticated:
        return ViewerStatus("outsider")
    if user.is_staff:
        return ViewerStatus("staff")
    if loaded_with_user and get_user_model().member.is_cached(user):
        member = getattr(user, "member", None)
    else:
        member = Member.objects.select_related("tier").filter(user=user).first()
    if member is None:
        return ViewerStatus("outsider")
    member.user = user  # the signed-in user already loaded: no second query for it
    return ViewerStatus(member.state, tier=member.tier, member=member)


def viewer_for_request(request) -> ViewerStatus:
    """The request's viewer, computed once per request (the header and the gate share it)."""
    cached = getattr(request, "_viewer_status", None)
    if cached is None:
        cached = viewer_status(getattr(request, "user", None), loaded_with_user=True)
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


def consent_baseline() -> int:
    """The version every member must have accepted (or a later one): the latest material one.

    A non-material version (a typo fix) becomes the current text without asking anyone again,
    so whoever accepted the material version before it still holds a valid consent.
    """
    version = (
        ConsentText.objects.filter(published_at__isnull=False, material=True)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    return version if version is not None else current_consent_text().version


BASELINE_MEMO_SECONDS = 30
_baseline_memo: list[tuple[int, float]] = []


def consent_baseline_cached() -> int:
    """``consent_baseline`` remembered by this process for a few seconds, for the check on
    every member request (``ConsentRequiredMiddleware``). A publication in this process forgets
    it at once; other processes see a new version within ``BASELINE_MEMO_SECONDS``."""
    now = time_module.monotonic()
    if _baseline_memo and now - _baseline_memo[0][1] < BASELINE_MEMO_SECONDS:
        return _baseline_memo[0][0]
    version = consent_baseline()
    _baseline_memo[:] = [(version, now)]
    return version


def consent_baseline_forget() -> None:
    """Forget the remembered baseline now and again after commit (a request in between may
    have read the old one)."""
    _baseline_memo.clear()
    if connection.in_atomic_block:
        transaction.on_commit(_baseline_memo.clear)


def has_current_consent(member: Member | None) -> bool:
    if member is None:
        return False
    return Consent.objects.filter(
        member=member, text__published_at__isnull=False, text__version__gte=consent_baseline()
    ).exists()


def member_consent_state(user, baseline: int) -> tuple[int | None, bool]:
    """The user's member id (None: not a member yet) and whether they accepted ``baseline`` or a
    later published version; one query."""
    row = (
        Member.objects.filter(user=user)
        .annotate(
            consented=Exists(
                Consent.objects.filter(
                    member=OuterRef("pk"),
                    text__published_at__isnull=False,
                    text__version__gte=baseline,
                )
            )
        )
        .values_list("pk", "consented")
        .first()
    )
    return (row[0], row[1]) if row else (None, False)


def accepted_consent(member: Member) -> Consent | None:
    """The member's latest acceptance, with its text (for their privacy page)."""
    return member.consents.select_related("text").order_by("-text__version").first()


def consent_texts_published() -> QuerySet[ConsentText]:
    return ConsentText.objects.filter(published_at__isnull=False).order_by("-version")


def consent_text_history(text: ConsentText) -> QuerySet[AuditEntry]:
    """The audit entries of one version, oldest first: who drafted, edited, reviewed it."""
    return AuditEntry.objects.filter(
        target_type=ConsentText._meta.label, target_id=str(text.pk)
    ).order_by("created_at", "id")


def consent_text_previous(text: ConsentText) -> ConsentText | None:
    """The published version a text is compared with: the one before it if it is published,
    else the current one (what the draft would replace)."""
    published = consent_texts_published()
    if text.version is not None:
        return published.filter(version__lt=text.version).first()
    return published.first()


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


def is_zombie(member: Member) -> bool:
    """Whether the member's Weibo account looks bought or automated (see ``zombie_reasons``).

    The flag is set at every login and re-evaluated nightly from the stored Weibo data; other
    apps ask here (referral bonuses, for one) instead of reading the column themselves.
    """
    return bool(member.zombie_suspected)


# --- The member's own profile ---------------------------------------------------------------------

# What a complete profile has: the club's "完善资料" earning rule pays once when all are filled.
# The Weibo fields come from Weibo, so only what the member gives the club counts.
PROFILE_FIELDS = ("display_name", "birthday_month", "birthday_day")


def profile_missing(member: Member) -> list[str]:
    """The fields of ``PROFILE_FIELDS`` the member has not filled yet (empty: complete)."""
    return [name for name in PROFILE_FIELDS if getattr(member, name) in (None, "")]


def birthday_on(month: int, day: int, year: int) -> date:
    """The day a birthday falls on in ``year``: 29 February is kept on 28 February when the
    year has no 29th (a member born on a leap day celebrates once a year, like everyone)."""
    if month == 2 and day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def birthday_valid(month: int, day: int, year: int | None = None) -> bool:
    """Whether month/day (of ``year``, or of some leap year when no year is given) exists."""
    try:
        date(year or 2000, month, day)
    except (TypeError, ValueError):
        return False
    return True


# --- Staff member list ----------------------------------------------------------------------------

# ``o`` parameter of the list → ordering; "-" in front reverses it. Empty values sort last.
MEMBER_SORTS = {
    "name": "display_name",
    "tier": "tier__rank",
    "followers": "weibo_followers",
    "points": "points_balance",
    "joined": "joined_at",
    "active": "last_seen_at",
    "created": "created_at",
}
DEFAULT_MEMBER_SORT = "-created"


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _between_days(queryset: QuerySet, field: str, start: date | None, end: date | None):
    """Filter ``field`` to local days ``start``..``end`` (both inclusive)."""
    if start:
        queryset = queryset.filter(**{f"{field}__gte": _day_start(start)})
    if end:
        queryset = queryset.filter(**{f"{field}__lt": _day_start(end + timedelta(days=1))})
    return queryset


def member_search(filters: dict[str, Any], *, sort: str = DEFAULT_MEMBER_SORT) -> QuerySet:
    """Members matching the staff list's filters, with their points balance, in ``sort`` order.

    One SQL query whatever the filters: the balance comes from a join on the points account
    (``points_balance``, 0 without an account), tier and user are joined for display.
    """
    members = Member.objects.select_related("tier", "user").annotate(
        points_balance=Coalesce(F("points_account__balance"), Value(0))
    )
    query = (filters.get("q") or "").strip()
    if query:
        members = members.filter(
            Q(display_name__icontains=query)
            | Q(weibo_screen_name__icontains=query)
            | Q(membership_number__icontains=query)
        )
    for field in ("state", "tier", "segment"):
        if filters.get(field):
            members = members.filter(**{field: filters[field]})
    for field, start, end in (
        ("joined_at", filters.get("joined_from"), filters.get("joined_to")),
        ("last_seen_at", filters.get("active_from"), filters.get("active_to")),
    ):
        members = _between_days(members, field, start, end)
    for field, value in (
        ("weibo_verified", filters.get("verified")),
        ("zombie_suspected", filters.get("zombie")),
    ):
        if value in ("yes", "no"):
            members = members.filter(**{field: value == "yes"})
    for field, low, high in (
        ("weibo_followers", filters.get("followers_min"), filters.get("followers_max")),
        ("points_balance", filters.get("points_min"), filters.get("points_max")),
    ):
        if low is not None:
            members = members.filter(**{f"{field}__gte": low})
        if high is not None:
            members = members.filter(**{f"{field}__lte": high})
    if sort.lstrip("-") not in MEMBER_SORTS:
        sort = DEFAULT_MEMBER_SORT
    descending = sort.startswith("-")
    column = F(MEMBER_SORTS[sort.lstrip("-")])
    order = column.desc(nulls_last=True) if descending else column.asc(nulls_last=True)
    return members.order_by(order, "-pk" if descending else "pk")


def segment_recipients(segment: str, zombies: str = ZombieAudience.ALL) -> QuerySet:
    """Admitted members currently in ``segment``, with or without suspected zombie accounts
    (``ZombieAudience``): who a segment notification reaches."""
    members = Member.objects.filter(state=Member.State.MEMBER, segment=segment)
    if zombies == ZombieAudience.EXCLUDE:
        members = members.filter(zombie_suspected=False)
    elif zombies == ZombieAudience.ONLY:
        members = members.filter(zombie_suspected=True)
    return members


# --- Staff member detail --------------------------------------------------------------------------

DETAIL_ROWS = 50
AUDIT_ROWS = 200


def member_overview(member: Member, *, rows: int = DETAIL_ROWS) -> dict[str, Any]:
    """Everything the staff detail page shows about a member, newest first, ``rows`` per list.

    One query per section, whatever the member's history: each list is cut in SQL and joins
    what its rows display.
    """
    from community.models import Comment, OfferClaim, Registration
    from core.audit import audit_resolve
    from core.models import AuditEntry, Notification
    from loyalty.models import PointsAccount, PointsEntry, PointsLot, Redemption, TierChange
    from share.models import Share

    account = PointsAccount.objects.select_related("manual_tier").filter(member=member).first()
    by_account = {"account__member": member}
    return {
        "account": account,
        "consents": list(member.consents.select_related("text").order_by("-accepted_at")),
        "decisions": list(member.decisions.select_related("actor").order_by("-created_at")),
        "tier_changes": list(
            TierChange.objects.filter(**by_account)
            .select_related("from_tier", "to_tier", "actor")
            .order_by("-created_at", "-pk")[:rows]
        ),
        "entries": list(
            PointsEntry.objects.filter(**by_account)
            .select_related("actor")
            .order_by("-created_at", "-pk")[:rows]
        ),
        "lots": list(PointsLot.objects.filter(**by_account).order_by("-created_at", "-pk")[:rows]),
        "redemptions": list(
            Redemption.objects.filter(**by_account)
            .select_related("reward")
            .order_by("-created_at", "-pk")[:rows]
        ),
        "registrations": list(
            Registration.objects.filter(member=member)
            .select_related("activity")
            .order_by("-created_at", "-pk")[:rows]
        ),
        "claims": list(
            OfferClaim.objects.filter(member=member)
            .select_related("offer", "cancellation")
            .order_by("-created_at", "-pk")[:rows]
        ),
        "shares": list(Share.objects.filter(member=member).order_by("-created_at", "-pk")[:rows]),
        "comments": list(
            Comment.objects.filter(member=member)
            .select_related("page")
            .order_by("-created_at", "-pk")[:rows]
        ),
        "notifications": list(
            Notification.objects.filter(user_id=member.user_id).order_by("-pk")[:rows]
        ),
        "audit_entries": audit_resolve(
            AuditEntry.objects.filter(
                target_type=Member._meta.label, target_id=str(member.pk)
            ).order_by("-pk")[:AUDIT_ROWS]
        ),
    }


# --- Segments -----------------------------------------------------------------------------------


def segment_activity(*, since: datetime, until: datetime) -> dict[int, dict[str, int]]:
    """Per member id, how often they did each kind of thing between ``since`` and ``until``.

    A handful of ``GROUP BY member`` queries, one per kind of record, whatever the number of
    members; members without activity are absent. Keys: ``threads`` (top-level comments still
    shown or awaiting moderation), ``comments`` (comments and replies, same states), ``reports``,
    ``likes`` (items and comments), ``shares`` (to Weibo), ``claims`` (offers), ``registrations``
    (activities) and ``checkins`` (daily check-ins).
    """
    from community.models import (
        Comment,
        CommentLike,
        CommentReport,
        ItemLike,
        OfferClaim,
        Registration,
    )
    from loyalty.models import EntryKind, PointsEntry
    from share.models import Share

    window = {"created_at__gte": since, "created_at__lt": until}
    counts: dict[int, dict[str, int]] = defaultdict(dict)

    def add(rows, *names: str) -> None:
        for member_id, *values in rows:
            for name, value in zip(names, values, strict=True):
                if value:
                    counts[member_id][name] = counts[member_id].get(name, 0) + value

    shown = [Comment.State.PUBLISHED, Comment.State.HELD]
    add(
        Comment.objects.filter(state__in=shown, **window)
        .values("member_id")
        .annotate(threads=Count("pk", filter=Q(parent__isnull=True)), comments=Count("pk"))
        .values_list("member_id", "threads", "comments"),
        "threads",
        "comments",
    )
    for model, member_field, name in (
        (CommentReport, "reporter_id", "reports"),
        (ItemLike, "member_id", "likes"),
        (CommentLike, "member_id", "likes"),
        (Share, "member_id", "shares"),
        (OfferClaim, "member_id", "claims"),
        (Registration, "member_id", "registrations"),
    ):
        add(
            model.objects.filter(**window)
            .values(member_field)
            .annotate(n=Count("pk"))
            .values_list(member_field, "n"),
            name,
        )
    add(
        PointsEntry.objects.filter(kind=EntryKind.EARN, reference_type="checkin", **window)
        .values("account__member_id")
        .annotate(n=Count("pk"))
        .values_list("account__member_id", "n"),
        "checkins",
    )
    return dict(counts)
