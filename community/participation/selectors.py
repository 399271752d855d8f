"""Reads of taking part: the panels on an item page, the member's own lists, staff counts.

A member's codes are read only by ``offer_panel`` (for that member, when the gate says FULL)
and ``member_claims`` (the member's own list). Listings use a fixed number of queries whatever
the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Case, Count, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community import gate
from community.models import (
    ActivityPage,
    ActivitySeats,
    Draw,
    DrawEntry,
    ItemAllocation,
    ItemViewCount,
    OfferClaim,
    OfferCode,
    OfferInventory,
    OfferPage,
    OfferWaitlistEntry,
    Registration,
)
from community.participation import services
from members.models import Member, Tier
from members.selectors import ViewerStatus

VIEWER_KIND_LABELS = {
    "outsider": gettext_lazy("访客"),
    "applicant": gettext_lazy("申请者"),
    "member": gettext_lazy("无等级会员"),
    "suspended": gettext_lazy("已暂停"),
    "left": gettext_lazy("已退出"),
}


def _window_state(now: datetime, opens: datetime | None, closes: datetime | None) -> str:
    if opens is not None and now < opens:
        return "upcoming"
    if closes is not None and now >= closes:
        return "closed"
    return "open"


# --- item pages ---------------------------------------------------------------------------------


@dataclass
class DrawPanel:
    """The draw box of an item page: the commitment before, the seed and result after."""

    allocation: ItemAllocation
    draw: Draw
    window: str  # upcoming, open, closed (waiting for the draw), drawn
    entries: int
    entry: DrawEntry | None = None  # the viewer's own
    can_enter: bool = False
    can_withdraw: bool = False
    reason: str = ""


def draw_panel(*, item, viewer: ViewerStatus) -> DrawPanel | None:
    """What the draw box shows (None when the item is not allocated by a draw)."""
    allocation = ItemAllocation.objects.filter(item_id=item.pk).first()
    if allocation is None or allocation.mode != ItemAllocation.Mode.DRAW:
        return None
    draw = Draw.objects.filter(item_id=item.pk).first()
    if draw is None:
        return None
    now = timezone.now()
    window = (
        "drawn"
        if draw.drawn
        else _window_state(now, allocation.entries_open_at, allocation.entries_close_at)
    )
    live = DrawEntry.objects.filter(draw=draw, withdrawn_at__isnull=True)
    panel = DrawPanel(allocation, draw, window, live.count())
    member = viewer.member
    if not viewer.is_member or member is None:
        panel.reason = _("只有正式会员可以参加抽签。")
        return panel
    panel.entry = live.filter(member=member).first()
    if window == "open":
        panel.can_enter = panel.entry is None
        panel.can_withdraw = panel.entry is not None
    elif window == "upcoming":
        panel.reason = str(services.DrawNotOpen.default_message)
    elif window == "closed":
        panel.reason = _("报名已截止，等待开奖。")
    return panel


@dataclass
class OfferPanel:
    offer: OfferPage
    window: str
    total: int
    remaining: int
    claims: list[OfferClaim] = field(default_factory=list)  # the viewer's own, with codes
    can_claim: bool = False
    reason: str = ""  # why the viewer cannot claim, when they cannot
    waitlist: OfferWaitlistEntry | None = None  # the viewer's open entry (waiting or held)
    position: int | None = None  # 1-based place among those waiting
    can_join_waitlist: bool = False
    draw: DrawPanel | None = None


def offer_stock(offer: OfferPage) -> tuple[int, int]:
    """(total, remaining): units held for the waiting list or draw winners are not remaining."""
    inventory = OfferInventory.objects.filter(offer=offer).first()
    claimed = inventory.claimed if inventory else 0
    held = inventory.held if inventory else 0
    if offer.code_mode == OfferPage.CodeMode.POOL:
        total = inventory.total if inventory else OfferCode.objects.filter(offer=offer).count()
    else:
        total = max(offer.total_stock, claimed + held)
    return total, max(total - claimed - held, 0)


def _offer_waiting(offer_id: int):
    return OfferWaitlistEntry.objects.filter(
        offer_id=offer_id, state=OfferWaitlistEntry.State.WAITING,
        member__state=Member.State.MEMBER,
    )  # fmt: skip


def offer_waitlist_position(entry: OfferWaitlistEntry) -> int | None:
    """1-based place on an offer's waiting list, None when not waiting."""
    if entry.state != OfferWaitlistEntry.State.WAITING:
        return None
    return _offer_waiting(entry.offer_id).filter(id__lte=entry.pk).count()


def _available_points(member) -> int:
    from loyalty.models import PointsAccount

    account = PointsAccount.objects.filter(member=member).only("balance").first()
    return account.balance if account else 0


def offer_panel(*, offer: OfferPage, viewer: ViewerStatus, decision: gate.Decision) -> OfferPanel:
    """What the claim box shows. Precondition: ``decision`` is FULL for this viewer."""
    assert decision.full
    now = timezone.now()
    total, remaining = offer_stock(offer)
    panel = OfferPanel(offer, _window_state(now, offer.valid_from, offer.valid_until),
                       total, remaining)  # fmt: skip
    member = viewer.member
    if not viewer.is_member or member is None:
        panel.reason = _("只有正式会员可以领取。")
        return panel
    panel.claims = list(
        OfferClaim.objects.live().filter(offer=offer, member=member).order_by("created_at", "id")
    )
    panel.draw = draw_panel(item=offer, viewer=viewer)
    panel.waitlist = OfferWaitlistEntry.objects.filter(
        offer=offer, member=member,
        state__in=[OfferWaitlistEntry.State.WAITING, OfferWaitlistEntry.State.HELD],
    ).first()  # fmt: skip
    held = panel.waitlist is not None and panel.waitlist.state == OfferWaitlistEntry.State.HELD
    if held and panel.waitlist.hold_until <= now:
        panel.waitlist, held = None, False  # ended; passed on by the next touch or the sweep
    if panel.waitlist is not None:
        panel.position = offer_waitlist_position(panel.waitlist)
    limit = offer.per_member_limit
    if panel.window == "upcoming":
        panel.reason = _("尚未开始领取。")
    elif panel.window == "closed":
        panel.reason = str(services.OutsideClaimWindow.default_message)
    elif panel.draw is not None and panel.draw.window != "drawn":
        panel.reason = str(services.DrawPending.default_message)
    elif limit and len(panel.claims) >= limit:
        panel.reason = str(services.ClaimLimitReached.default_message)
    elif remaining <= 0 and not held:
        panel.reason = str(services.SoldOut.default_message)
        panel.can_join_waitlist = panel.waitlist is None
    elif offer.points_price > 0 and _available_points(member) < offer.points_price:
        from loyalty.errors import InsufficientPoints

        panel.reason = str(InsufficientPoints.default_message)
    else:
        panel.can_claim = True
    return panel


@dataclass
class ActivityPanel:
    activity: ActivityPage
    window: str
    capacity: int
    free: int
    waitlist: int
    registration: Registration | None = None
    position: int | None = None
    can_register: bool = False
    can_cancel: bool = False
    can_checkin: bool = False
    deadline: datetime | None = None
    reason: str = ""
    can_confirm: bool = False
    draw: DrawPanel | None = None


def waitlist_position(registration: Registration) -> int | None:
    """1-based place on the waiting list (in promotion order), None when not waiting."""
    if registration.state != Registration.State.WAITLISTED:
        return None
    return _waiting(registration.activity_id).filter(id__lte=registration.pk).count()


def _waiting(activity_id):
    return Registration.objects.filter(
        activity_id=activity_id, state=Registration.State.WAITLISTED,
        member__state=Member.State.MEMBER,
    )  # fmt: skip


def can_cancel(registration: Registration, activity: ActivityPage, now: datetime) -> bool:
    if registration.state in (Registration.State.WAITLISTED, Registration.State.HELD):
        return True
    if registration.state != Registration.State.REGISTERED:
        return False
    deadline = services.cancellation_deadline(activity)
    return deadline is None or now < deadline


def activity_panel(
    *, activity: ActivityPage, viewer: ViewerStatus, decision: gate.Decision
) -> ActivityPanel:
    """What the registration box shows. Precondition: ``decision`` is FULL for this viewer."""
    assert decision.full
    now = timezone.now()
    seats = ActivitySeats.objects.filter(activity=activity).first()
    capacity = seats.capacity if seats else activity.capacity
    taken = seats.taken if seats else 0
    panel = ActivityPanel(
        activity,
        _window_state(now, activity.registration_opens_at,
                      services.registration_closes(activity)),
        capacity, max(capacity - taken, 0), _waiting(activity.pk).count(),
        deadline=services.cancellation_deadline(activity),
    )  # fmt: skip
    member = viewer.member
    if not viewer.is_member or member is None:
        panel.reason = _("只有正式会员可以报名。")
        return panel
    panel.draw = draw_panel(item=activity, viewer=viewer)
    panel.registration = (
        Registration.objects.filter(activity=activity, member=member)
        .exclude(state=Registration.State.CANCELLED)
        .first()
    )
    registration = panel.registration
    if (
        registration is not None
        and registration.state == Registration.State.HELD
        and registration.hold_until <= now
    ):
        panel.registration = registration = None  # ended; passed on by the next touch
    if registration is not None:
        panel.position = waitlist_position(registration)
        panel.can_cancel = can_cancel(registration, activity, now)
        panel.can_confirm = registration.state == Registration.State.HELD
        # Check-in is at the door, by the membership card's QR code: point the member to it.
        panel.can_checkin = registration.state == Registration.State.REGISTERED and (
            activity_is_today(activity, now)
        )
    elif panel.window == "upcoming":
        panel.reason = _("报名尚未开始。")
    elif panel.draw is not None and panel.draw.window != "drawn":
        panel.reason = str(services.DrawPending.default_message)
    elif panel.window == "closed":
        panel.reason = str(services.OutsideRegistrationWindow.default_message)
    else:
        panel.can_register = True
    return panel


# --- the member's own lists ---------------------------------------------------------------------


def member_claims(member: Member):
    """The member's claims, newest first, with their offers and any cancellation: two queries
    whatever the count."""
    return (
        OfferClaim.objects.filter(member=member)
        .select_related("offer", "cancellation")
        .order_by("-created_at", "-id")
    )


def _position_subquery():
    waiting_before = (
        Registration.objects.filter(
            activity=OuterRef("activity"), state=Registration.State.WAITLISTED,
            member__state=Member.State.MEMBER, id__lte=OuterRef("id"),
        )
        .order_by()
        .values("activity")
        .annotate(n=Count("id"))
        .values("n")
    )  # fmt: skip
    return Subquery(waiting_before, output_field=IntegerField())


def member_registrations(member: Member) -> list[Registration]:
    """The member's registrations (cancelled ones too), with waitlist position and whether
    each can still be cancelled; one query whatever the count."""
    now = timezone.now()
    registrations = list(
        Registration.objects.filter(member=member)
        .select_related("activity")
        .annotate(position=_position_subquery())
        .order_by("-created_at", "-id")
    )
    for registration in registrations:
        if registration.state != Registration.State.WAITLISTED:
            registration.position = None
        registration.cancellable = can_cancel(registration, registration.activity, now)
    return registrations


# --- staff --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierCount:
    label: str
    count: int


def views_by_tier(page_ids: list[int]) -> dict[int, list[TierCount]]:
    """Views per item, split by tier (ordered by rank) and then by kind of non-member viewer."""
    rows = (
        ItemViewCount.objects.filter(page_id__in=page_ids)
        .values("page_id", "tier_code")
        .annotate(n=Sum("count"))
    )
    tiers = {tier.code: tier for tier in Tier.objects.all()}
    kinds = list(VIEWER_KIND_LABELS)
    result: dict[int, list[tuple]] = {}
    for row in rows:
        code = row["tier_code"]
        tier = tiers.get(code)
        if tier is not None:
            order, label = (0, tier.rank, ""), tier.name
        else:
            order = (1, kinds.index(code) if code in kinds else len(kinds), code)
            label = str(VIEWER_KIND_LABELS.get(code, code))
        result.setdefault(row["page_id"], []).append((order, label, row["n"]))
    return {
        page_id: [TierCount(label, n) for _o, label, n in sorted(entries, key=lambda e: e[0])]
        for page_id, entries in result.items()
    }


def _views_total():
    total = (
        ItemViewCount.objects.filter(page=OuterRef("pk"))
        .order_by()
        .values("page")
        .annotate(n=Sum("count"))
        .values("n")
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


def offers_overview():
    claims = (
        OfferClaim.objects.live()
        .filter(offer=OuterRef("pk"))
        .order_by()
        .values("offer")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        OfferPage.objects.select_related("inventory")
        .annotate(
            claim_count=Coalesce(Subquery(claims, output_field=IntegerField()), Value(0)),
            view_count=_views_total(),
        )
        .order_by("-first_published_at", "-pk")
    )


def activities_overview():
    def count(state: str) -> Count:
        return Count("registrations", filter=Q(registrations__state=state))

    states = Registration.State
    return (
        ActivityPage.objects.select_related("seats")
        .annotate(
            registered_count=count(states.REGISTERED),
            waitlisted_count=count(states.WAITLISTED),
            attended_count=count(states.ATTENDED),
            cancelled_count=count(states.CANCELLED),
            view_count=_views_total(),
        )
        .order_by("-first_published_at", "-pk")
    )


def offer_claims(offer: OfferPage):
    return (
        OfferClaim.objects.filter(offer=offer)
        .select_related("member", "member__tier", "cancellation", "cancellation__actor")
        .order_by("created_at", "id")
    )


def pool_counts(offer: OfferPage) -> dict[str, int]:
    counts = OfferCode.objects.filter(offer=offer).aggregate(
        total=Count("id"), free=Count("id", filter=Q(claimed_by__isnull=True))
    )
    return {"total": counts["total"], "free": counts["free"],
            "claimed": counts["total"] - counts["free"]}  # fmt: skip


def registration_counts(activity: ActivityPage) -> dict[str, int]:
    counts = dict.fromkeys(Registration.State.values, 0)
    rows = activity.registrations.order_by().values("state").annotate(n=Count("id"))
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def activity_registrations(activity: ActivityPage):
    """Everyone who registered: seat holders first, then the waiting list in order."""
    return (
        Registration.objects.filter(activity=activity)
        .select_related("member", "member__tier", "checked_in_by")
        .annotate(
            position=_position_subquery(),
            state_order=Case(
                When(state__in=[Registration.State.REGISTERED, Registration.State.HELD,
                                Registration.State.ATTENDED], then=Value(0)),
                When(state=Registration.State.WAITLISTED, then=Value(1)),
                default=Value(2),
            ),
        )
        .order_by("state_order", "id")
    )  # fmt: skip


# --- check-in by membership card ---------------------------------------------------------------


def _today(now: datetime) -> tuple[datetime, datetime]:
    """The local day around ``now``, as aware datetimes."""
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _today_q(now: datetime, prefix: str = "") -> Q:
    """Activities to check in to today: starting today (local time), or running now."""
    start, end = _today(now)
    return Q(**{f"{prefix}starts_at__gte": start, f"{prefix}starts_at__lt": end}) | Q(
        **{f"{prefix}starts_at__lte": now, f"{prefix}ends_at__gte": now}
    )


def activity_is_today(activity: ActivityPage, now: datetime) -> bool:
    starts, ends = activity.starts_at, activity.ends_at
    if starts is None:
        return False
    start, end = _today(now)
    return start <= starts < end or (starts <= now and ends is not None and now <= ends)


def member_checkins_today(member: Member, now: datetime) -> list[Registration]:
    """The member's seats at activities of today (checked in or not), soonest first; one query."""
    return list(
        Registration.objects.filter(
            _today_q(now, "activity__"), member=member, activity__live=True,
            state__in=[Registration.State.REGISTERED, Registration.State.ATTENDED],
        )
        # The tiers the gate reads, so naming each activity costs no query of its own.
        .select_related("activity", "activity__min_tier", "activity__early_access_tier")
        .order_by("activity__starts_at", "id")
    )  # fmt: skip


def checkin_activities(now: datetime):
    """Activities staff may scan cards for now: today's and those running, with counts."""

    def count(state: str) -> Count:
        return Count("registrations", filter=Q(registrations__state=state))

    return (
        ActivityPage.objects.filter(_today_q(now))
        .annotate(
            registered_count=count(Registration.State.REGISTERED),
            attended_count=count(Registration.State.ATTENDED),
        )
        .order_by("starts_at", "pk")
    )


def offer_waitlist(offer: OfferPage):
    """Staff view of an offer's waiting list: holds first, then those waiting, in order."""
    return (
        OfferWaitlistEntry.objects.filter(
            offer=offer,
            state__in=[OfferWaitlistEntry.State.HELD, OfferWaitlistEntry.State.WAITING],
        )
        .select_related("member", "member__tier")
        .annotate(
            state_order=Case(When(state=OfferWaitlistEntry.State.HELD, then=Value(0)),
                             default=Value(1))
        )
        .order_by("state_order", "id")
    )  # fmt: skip


# --- draws: the public record -------------------------------------------------------------------


def draw_record(item) -> dict | None:
    """The published record of an item's draw, as anyone may check it (docs/verify_draw.py).

    Only pseudonymous entry ids and weights: no name, no member id. The entry list is published
    once entries have closed, the seed, order and winners once the draw has run; before that
    only the commitment.
    """
    allocation = ItemAllocation.objects.filter(item_id=item.pk).first()
    draw = Draw.objects.filter(item_id=item.pk).first()
    if allocation is None or draw is None:
        return None
    now = timezone.now()
    closed = draw.drawn or (
        allocation.entries_close_at is not None and now >= allocation.entries_close_at
    )
    record: dict = {
        "item": item.pk,
        "title": item.title,
        "algorithm": services.ALGORITHM,
        "commitment": draw.commitment,
        "committed_at": draw.committed_at.isoformat(),
        "entries_open_at": allocation.entries_open_at and allocation.entries_open_at.isoformat(),
        "entries_close_at": allocation.entries_close_at and allocation.entries_close_at.isoformat(),
        "state": draw.state,
        "seed": None,
        "entries": None,
        "entries_digest": None,
        "units": None,
        "order": None,
        "winners": None,
    }
    if not closed:
        return record
    entries = services.published_entries(draw)
    record["entries"] = [{"entry": public_id, "weight": weight} for public_id, weight in entries]
    record["entries_digest"] = services.entries_digest(entries)
    if draw.drawn:
        ranked = list(
            DrawEntry.objects.filter(draw=draw, withdrawn_at__isnull=True)
            .order_by("rank")
            .values_list("public_id", flat=True)
        )
        record.update(
            seed=draw.seed, units=draw.units, order=ranked, winners=ranked[: draw.units],
            drawn_at=draw.drawn_at.isoformat(),
        )  # fmt: skip
    return record


def draw_entries_for_staff(item):
    """Staff view of a draw's entries with the members behind them (never published)."""
    return (
        DrawEntry.objects.filter(draw__item_id=item.pk, withdrawn_at__isnull=True)
        .select_related("member", "member__tier")
        .order_by("rank", "id")
    )
