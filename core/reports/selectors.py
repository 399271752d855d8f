"""The rows behind each dashboard chart: one function per chart, all aggregation in SQL.

Every function takes a ``Period`` (local days, both ends included) and returns a list of plain
dicts (dates, numbers, codes and names from the database; nothing translated), so the rows can
be cached and turned into SVG, an HTML table or CSV alike. Each runs a small fixed number of
queries, whatever the number of members. Weekly charts count whole weeks (Monday to Sunday)
from the Monday of the range's first day, monthly charts whole months from the first of its
month; the last week or month ends with the range.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from core.models import ActiveMembersDay, DailyActiveMember, InteractionWeek, LedgerDay
from core.reports.periods import Period, local_midnight


def _tz():
    return timezone.get_default_timezone()


def _day_of(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value, _tz()).date() if timezone.is_aware(value) else value.date()
    return value


def _by_bucket(queryset, key: str = "slot", value: str = "n") -> dict[date, int]:
    return {_day_of(row[key]): row[value] or 0 for row in queryset}


def _weekly(model, field: str, start: datetime, end: datetime, extra=None, **aggregates):
    queryset = model.objects.filter(**{f"{field}__gte": start, f"{field}__lt": end})
    if extra is not None:
        queryset = queryset.filter(extra)
    return (
        queryset.annotate(slot=TruncWeek(field, tzinfo=_tz()))
        .values("slot")
        .annotate(**(aggregates or {"n": Count("pk")}))
        .order_by()
    )


# --- 1. Members by tier over time -----------------------------------------------------------------

MEMBERS_BY_TIER_SQL = """
WITH changes AS (
    SELECT m.id AS member_id, m.tier_id, m.joined_at, m.left_at, tc.created_at, tc.id,
           tc.from_tier_id, tc.to_tier_id
    FROM loyalty_tierchange tc
    JOIN loyalty_pointsaccount a ON a.id = tc.account_id
    JOIN members_member m ON m.id = a.member_id
    WHERE m.joined_at IS NOT NULL AND tc.created_at >= m.joined_at
      AND (m.left_at IS NULL OR tc.created_at < m.left_at)
),
firsts AS (
    SELECT DISTINCT ON (member_id) * FROM changes ORDER BY member_id, created_at, id
),
lasts AS (
    SELECT DISTINCT ON (member_id) * FROM changes
    WHERE left_at IS NOT NULL ORDER BY member_id, created_at DESC, id DESC
),
events (at, tier_id, delta) AS (
    SELECT joined_at, tier_id, 1 FROM members_member WHERE joined_at IS NOT NULL
    UNION ALL
    SELECT left_at, tier_id, -1 FROM members_member
        WHERE joined_at IS NOT NULL AND left_at IS NOT NULL
    UNION ALL SELECT created_at, from_tier_id, -1 FROM changes
    UNION ALL SELECT created_at, to_tier_id, 1 FROM changes
    -- Members whose tier changed joined with the first change's from_tier, not today's tier,
    -- and (if they left) left with the last change's to_tier.
    UNION ALL SELECT joined_at, tier_id, -1 FROM firsts
    UNION ALL SELECT joined_at, from_tier_id, 1 FROM firsts
    UNION ALL SELECT left_at, tier_id, 1 FROM lasts
    UNION ALL SELECT left_at, to_tier_id, -1 FROM lasts
)
SELECT GREATEST((at AT TIME ZONE %(tz)s)::date, %(before)s) AS day, tier_id, SUM(delta)
FROM events WHERE at < %(end_at)s
GROUP BY 1, 2
"""


def members_by_tier(period: Period) -> list[dict]:
    """Members at the end of each day, by the tier they held then.

    Reconstructed from the records that already keep the history, rather than from a nightly
    snapshot table: a member counts from ``joined_at`` until ``left_at``; their tier at joining
    is the ``from_tier`` of their first tier change (or their tier now, if it never changed),
    and each ``TierChange`` moves them from one tier to another. One pass over members plus the
    (far fewer) tier changes, aggregated by day in SQL, answers any range exactly, including
    days before the dashboard existed, and there is no job to miss. Suspended members still
    hold their tier and count; members who left do not.

    Rows: ``{"day", "tier", "members"}`` per day and tier (tiers by rank, then members without
    a tier as ``tier=None`` if there are any).
    """
    from members.models import Tier

    tiers = list(Tier.objects.order_by("rank").values_list("pk", "name"))
    with connection.cursor() as cursor:
        cursor.execute(
            MEMBERS_BY_TIER_SQL,
            {"end_at": period.end_at, "tz": str(_tz()),
             "before": period.start - timedelta(days=1)},
        )  # fmt: skip
        deltas: dict[date, dict[int | None, int]] = defaultdict(dict)
        for day, tier_id, delta in cursor.fetchall():
            deltas[day][tier_id] = int(delta)
    columns: list[tuple[int | None, str | None]] = list(tiers)
    if any(None in by_tier for by_tier in deltas.values()):
        columns.append((None, None))
    running = {tier_id: 0 for tier_id, _name in columns}
    for tier_id, delta in deltas.get(period.start - timedelta(days=1), {}).items():
        running[tier_id] = running.get(tier_id, 0) + delta
    rows = []
    for day in period.each_day():
        for tier_id, delta in deltas.get(day, {}).items():
            running[tier_id] = running.get(tier_id, 0) + delta
        rows += [{"day": day, "tier": name, "members": running.get(tier_id, 0)}
                 for tier_id, name in columns]  # fmt: skip
    return rows


# --- 2. Joins per week and the outsider funnel ----------------------------------------------------


def joins_and_funnel(period: Period) -> list[dict]:
    """Per week: members admitted, applications submitted, and the share funnel.

    The funnel follows outsiders who came through a member's Weibo share: ``share_clicks`` are
    unique visitors of a share's page per day (``ShareVisit``), ``share_applications`` those
    who then applied (``ShareReferral.applied_at``), ``share_admitted`` those admitted
    (``ShareReferral.admitted_at``), each counted in the week it happened.
    """
    from members.models import Application, Member
    from share.models import ShareReferral, ShareVisit

    start, end = local_midnight(period.week_start), period.end_at
    joins = _by_bucket(_weekly(Member, "joined_at", start, end))
    applications = _by_bucket(_weekly(Application, "submitted_at", start, end))
    clicks = _by_bucket(
        ShareVisit.objects.filter(day__gte=period.week_start, day__lte=period.end)
        .annotate(slot=TruncWeek("day"))
        .values("slot")
        .annotate(n=Count("pk"))
        .order_by()
    )
    applied = _by_bucket(_weekly(ShareReferral, "applied_at", start, end))
    admitted = _by_bucket(_weekly(ShareReferral, "admitted_at", start, end))
    return [
        {"week": week, "joins": joins.get(week, 0), "applications": applications.get(week, 0),
         "share_clicks": clicks.get(week, 0), "share_applications": applied.get(week, 0),
         "share_admitted": admitted.get(week, 0)}
        for week in period.each_week()
    ]  # fmt: skip


# --- 3. DAU / WAU / MAU ---------------------------------------------------------------------------

# Each member's active days, with the next one: a day covers the 7-day (30-day) window until
# the next active day takes over, so every member is counted once per window without a
# DISTINCT over the whole window for every day. One pass over the rows of the range + 29 days;
# the grouping sets count where coverages start and end, and the running sum is the answer.
ACTIVE_COUNTS_SQL = """
WITH seen AS (
    SELECT day,
           LEAST(LEAD(day) OVER w, day + 7) AS week_end,
           LEAST(LEAD(day) OVER w, day + 30) AS month_end
    FROM core_dailyactivemember
    WHERE day >= %(since)s AND day <= %(until)s
    WINDOW w AS (PARTITION BY member_id ORDER BY day)
)
SELECT day, week_end, month_end, COUNT(*) FROM seen
GROUP BY GROUPING SETS ((day), (week_end), (month_end))
"""


def active_counts_live(first: date, last: date) -> dict[date, tuple[int, int, int]]:
    """(DAU, WAU, MAU) of each day from ``first`` to ``last``, from ``DailyActiveMember``.

    WAU counts distinct members active in the 7 days ending that day, MAU in the 30 days.
    """
    since = first - timedelta(days=29)
    with connection.cursor() as cursor:
        cursor.execute(ACTIVE_COUNTS_SQL, {"since": since, "until": last})
        found = cursor.fetchall()
    starts: dict[date, int] = defaultdict(int)
    week_ends: dict[date, int] = defaultdict(int)
    month_ends: dict[date, int] = defaultdict(int)
    for day, week_end, month_end, n in found:
        if day is not None:
            starts[day] += n
        elif week_end is not None:
            week_ends[week_end] += n
        elif month_end is not None:
            month_ends[month_end] += n
    counts: dict[date, tuple[int, int, int]] = {}
    wau = mau = 0
    day = since
    while day <= last:
        wau += starts[day] - week_ends[day]
        mau += starts[day] - month_ends[day]
        if day >= first:
            counts[day] = (starts[day], wau, mau)
        day += timedelta(days=1)
    return counts


def active_members(period: Period) -> list[dict]:
    """Daily, weekly and monthly active members for each day of the range.

    Completed days come from ``ActiveMembersDay`` (computed once, nightly); days without a
    stored row (today, or days the nightly job has not reached) are computed live.
    """
    stored = {
        row["day"]: (row["dau"], row["wau"], row["mau"])
        for row in ActiveMembersDay.objects.filter(
            day__gte=period.start, day__lte=period.end
        ).values("day", "dau", "wau", "mau")
    }
    missing = [day for day in period.each_day() if day not in stored]
    if missing:
        stored.update(active_counts_live(missing[0], missing[-1]))
    return [
        {"day": day, "dau": stored[day][0], "wau": stored[day][1], "mau": stored[day][2]}
        for day in period.each_day()
    ]


# --- 4. Interaction rate --------------------------------------------------------------------------

INTERACTING_SQL = """
SELECT date_trunc('week', x.at AT TIME ZONE %(tz)s)::date AS week, COUNT(DISTINCT x.member_id)
FROM (
    SELECT member_id, created_at AS at FROM community_comment
        WHERE created_at >= %(start)s AND created_at < %(end)s
    UNION ALL
    SELECT member_id, created_at FROM community_itemlike
        WHERE created_at >= %(start)s AND created_at < %(end)s
    UNION ALL
    SELECT member_id, created_at FROM community_commentlike
        WHERE created_at >= %(start)s AND created_at < %(end)s
    UNION ALL
    SELECT member_id, created_at FROM community_registration
        WHERE created_at >= %(start)s AND created_at < %(end)s
    UNION ALL
    SELECT member_id, created_at FROM share_share
        WHERE created_at >= %(start)s AND created_at < %(end)s
) AS x
GROUP BY 1
"""


def interacting_live(first_monday: date, last: date) -> dict[date, int]:
    """Distinct members who interacted, per week from ``first_monday`` to ``last`` (the last
    week ends with ``last``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            INTERACTING_SQL,
            {
                "tz": str(_tz()),
                "start": local_midnight(first_monday),
                "end": local_midnight(last + timedelta(days=1)),
            },
        )
        return {week: int(n) for week, n in cursor.fetchall()}


def interaction_rate(period: Period) -> list[dict]:
    """Per week: members who commented, liked (an item or a comment), registered for an
    activity or shared to Weibo, divided by the week's active members.

    The week's active members are the distinct members with a ``DailyActiveMember`` row from
    Monday to Sunday. Weeks that ended within the range come from the nightly rollups
    (``InteractionWeek``, and the Sunday's WAU in ``ActiveMembersDay``); the week the range
    ends in, and any week not stored yet, are counted live up to the range's last day.
    """
    weeks = period.each_week()
    complete = [week for week in weeks if week + timedelta(days=6) <= period.end]
    interacting = dict(
        InteractionWeek.objects.filter(week__in=complete).values_list("week", "interacting")
    )
    missing = [week for week in weeks if week not in interacting]
    if missing:
        live = interacting_live(missing[0], period.end)
        interacting.update({week: live.get(week, 0) for week in missing})
    active = {
        day - timedelta(days=6): wau
        for day, wau in ActiveMembersDay.objects.filter(
            day__in=[week + timedelta(days=6) for week in complete]
        ).values_list("day", "wau")
    }
    missing = [week for week in weeks if week not in active]
    if missing:
        counted = _by_bucket(
            DailyActiveMember.objects.filter(day__gte=missing[0], day__lte=period.end)
            .annotate(slot=TruncWeek("day"))
            .filter(slot__in=missing)
            .values("slot")
            .annotate(n=Count("member_id", distinct=True))
            .order_by()
        )
        active.update({week: counted.get(week, 0) for week in missing})
    rows = []
    for week in weeks:
        members, base = interacting[week], active[week]
        rate = round(members * 100 / base, 1) if base else None
        rows.append({"week": week, "interacting": members, "active": base, "rate": rate})
    return rows


# --- 5. Shares and verified reach -----------------------------------------------------------------


def shares_per_week(period: Period) -> list[dict]:
    """Per week: shares posted on Weibo, their verified reach and shares that failed.

    Reach is the sum of the sharing members' follower counts when each share was posted
    (``followers_at_share``): the audience Weibo confirmed the post went to, not views.
    Posted shares count in the week they were posted, failures in the week they were made.
    """
    from share.models import Share

    start, end = local_midnight(period.week_start), period.end_at
    sent = {
        _day_of(row["slot"]): row
        for row in _weekly(
            Share, "sent_at", start, end, Q(state=Share.State.SENT),
            n=Count("pk"), reach=Coalesce(Sum("followers_at_share"), 0),
        )
    }  # fmt: skip
    failed = _by_bucket(_weekly(Share, "created_at", start, end, Q(state=Share.State.FAILED)))
    return [
        {"week": week, "sent": sent[week]["n"] if week in sent else 0,
         "reach": sent[week]["reach"] if week in sent else 0, "failed": failed.get(week, 0)}
        for week in period.each_week()
    ]  # fmt: skip


def share_failures(period: Period) -> list[dict]:
    """Shares made in the range that did not reach Weibo, by Weibo's last error code.

    Both failed shares and shares waiting for the member to authorise Weibo again count.
    """
    from share.models import Share

    rows = (
        Share.objects.filter(
            created_at__gte=period.start_at,
            created_at__lt=period.end_at,
            state__in=[Share.State.FAILED, Share.State.NEEDS_REAUTH],
        )  # fmt: skip
        .values("last_error_code")
        .annotate(n=Count("pk"))
        .order_by("-n", "last_error_code")
    )
    return [{"code": row["last_error_code"], "shares": row["n"]} for row in rows]


# --- 6. Redemptions by reward and tier ------------------------------------------------------------


def redemptions_by_reward(period: Period) -> list[dict]:
    """Redemptions made in the range and not cancelled or expired, by reward and by the
    member's current tier; rewards with the most redemptions first."""
    from loyalty.models import Redemption
    from loyalty.services.rewards import ACTIVE_STATES

    found = list(
        Redemption.objects.filter(
            created_at__gte=period.start_at,
            created_at__lt=period.end_at,
            state__in=ACTIVE_STATES,
        )  # fmt: skip
        .values(
            "reward_id",
            "reward__name",
            "account__member__tier__name",
            "account__member__tier__rank",
        )  # fmt: skip
        .annotate(n=Count("pk"), points=Sum("cost"))
        .order_by()
    )
    totals: dict[int, int] = defaultdict(int)
    for row in found:
        totals[row["reward_id"]] += row["n"]
    found.sort(key=lambda row: (-totals[row["reward_id"]], row["reward_id"],
                                row["account__member__tier__rank"] or 0))  # fmt: skip
    return [
        {"reward": row["reward__name"], "tier": row["account__member__tier__name"],
         "redemptions": row["n"], "points": row["points"] or 0}
        for row in found
    ]  # fmt: skip


# --- 7. Points issued, redeemed, expired; outstanding ---------------------------------------------


def _ledger_sums() -> dict:
    """Issued, redeemed, expired and net, as ``loyalty.selectors.liability`` defines them."""
    from loyalty.models import Bucket, EntryKind

    credit = Q(bucket=Bucket.AVAILABLE) & (
        Q(kind__in=[EntryKind.EARN, EntryKind.APPROVE]) | Q(kind=EntryKind.ADJUST, amount__gt=0)
    )
    return {
        "issued": Coalesce(Sum("amount", filter=credit), 0),
        "redeemed": Coalesce(
            Sum("amount", filter=Q(kind__in=[EntryKind.REDEEM, EntryKind.REFUND])), 0
        ),
        "expired": Coalesce(Sum("amount", filter=Q(kind=EntryKind.EXPIRE)), 0),
        "net": Coalesce(Sum("amount", filter=Q(bucket=Bucket.AVAILABLE)), 0),
    }


def ledger_days_live(first: date, last: date) -> dict[date, dict]:
    """Per local day from ``first`` to ``last``: points issued, redeemed and expired (all
    positive) and the net change of spendable balances, straight from the ledger."""
    from loyalty.models import PointsEntry

    rows = (
        PointsEntry.objects.filter(
            created_at__gte=local_midnight(first),
            created_at__lt=local_midnight(last + timedelta(days=1)),
        )
        .annotate(slot=TruncDay("created_at", tzinfo=_tz()))
        .values("slot")
        .annotate(**_ledger_sums())
        .order_by()
    )
    return {
        _day_of(row["slot"]): {"issued": row["issued"], "redeemed": -row["redeemed"],
                               "expired": -row["expired"], "net": row["net"]}
        for row in rows
    }  # fmt: skip


def points_per_month(period: Period) -> list[dict]:
    """Per month: points issued, redeemed and expired, and the outstanding balance at its end.

    The definitions are those of ``loyalty.selectors.liability``: issued = credits to the
    spendable bucket (earned, approved pending points, positive adjustments); redeemed =
    redemptions net of refunds; expired = expiry entries. Finished days come from the nightly
    ``LedgerDay`` rollup, days not stored yet (today) from the ledger itself. Outstanding at a
    month's end (the range's end for its last month) is today's total balance less every
    spendable-bucket change after that moment: balances are the sum of their entries, an
    invariant the nightly reconciliation proves, so no pass over the whole ledger is needed.
    """
    from django.contrib.postgres.aggregates import ArrayAgg

    from loyalty.models import PointsAccount

    today = timezone.localdate()
    within = Q(day__lte=period.end)
    stored = (
        LedgerDay.objects.filter(day__gte=period.month_start, day__lte=today)
        .annotate(slot=TruncMonth("day"))
        .values("slot")
        .annotate(
            sum_issued=Coalesce(Sum("issued", filter=within), 0),
            sum_redeemed=Coalesce(Sum("redeemed", filter=within), 0),
            sum_expired=Coalesce(Sum("expired", filter=within), 0),
            sum_net=Coalesce(Sum("net", filter=within), 0),
            sum_later=Coalesce(Sum("net", filter=~within), 0),
            days=ArrayAgg("day"),
        )
        .order_by()
    )
    months: dict[date, dict] = defaultdict(lambda: dict.fromkeys(
        ("issued", "redeemed", "expired", "net", "later"), 0))  # fmt: skip
    seen: set[date] = set()
    for row in stored:
        month = months[_day_of(row["slot"])]
        for key in ("issued", "redeemed", "expired", "net", "later"):
            month[key] += row[f"sum_{key}"]
        seen.update(row["days"])
    every_day = [period.month_start + timedelta(days=n)
                 for n in range((today - period.month_start).days + 1)]  # fmt: skip
    missing = [day for day in every_day if day not in seen]
    if missing:
        for day, sums in ledger_days_live(missing[0], missing[-1]).items():
            if day in seen:
                continue
            month = months[day.replace(day=1)]
            if day <= period.end:
                for key in ("issued", "redeemed", "expired", "net"):
                    month[key] += sums[key]
            else:
                month["later"] += sums["net"]
    outstanding = PointsAccount.objects.aggregate(total=Coalesce(Sum("balance"), 0))["total"]
    outstanding -= sum(month["later"] for month in months.values())
    rows = []
    for first in reversed(period.each_month()):
        month = months.get(first) or dict.fromkeys(("issued", "redeemed", "expired", "net"), 0)
        rows.append({"month": first, "issued": month["issued"], "redeemed": month["redeemed"],
                     "expired": month["expired"], "outstanding": outstanding})  # fmt: skip
        outstanding -= month["net"]
    rows.reverse()
    return rows


# --- 8. Moderation queue age ----------------------------------------------------------------------

# (key, lower bound of the age) from youngest to oldest; each bucket ends where the next begins.
AGE_BUCKETS = [
    ("lt_1h", timedelta(0)),
    ("1h_6h", timedelta(hours=1)),
    ("6h_24h", timedelta(hours=6)),
    ("1d_3d", timedelta(days=1)),
    ("3d_7d", timedelta(days=3)),
    ("gt_7d", timedelta(days=7)),
]


def _age_counts(queryset, now: datetime, period: Period) -> dict[str, int]:
    in_range = Q(created_at__gte=period.start_at, created_at__lt=period.end_at)
    aggregates = {"all": Count("pk")}
    for index, (key, lower) in enumerate(AGE_BUCKETS):
        condition = in_range & Q(created_at__lte=now - lower)
        if index + 1 < len(AGE_BUCKETS):
            condition &= Q(created_at__gt=now - AGE_BUCKETS[index + 1][1])
        aggregates[key] = Count("pk", filter=condition)
    return queryset.aggregate(**aggregates)


def moderation_queue(period: Period, now: datetime | None = None) -> list[dict]:
    """What waits for a moderator now, by how long it has waited: comments held for review and
    open reports, among those that entered the queue in the range.

    The last row (``bucket="all"``) counts the whole queue whatever the range, so a short
    range never hides old items.
    """
    from community.models_interaction import Comment, CommentReport

    now = now or timezone.now()
    held = _age_counts(Comment.objects.filter(state=Comment.State.HELD), now, period)
    reports = _age_counts(CommentReport.objects.filter(state=CommentReport.State.OPEN), now, period)
    return [
        {"bucket": key, "held_comments": held[key], "open_reports": reports[key]}
        for key in [key for key, _lower in AGE_BUCKETS] + ["all"]
    ]


# --- Headline sparklines on the admin home --------------------------------------------------------


def _daily(queryset, field: str, period: Period, value=None) -> list[dict]:
    counts = _by_bucket(
        queryset.filter(**{f"{field}__gte": period.start_at, f"{field}__lt": period.end_at})
        .annotate(slot=TruncDay(field, tzinfo=_tz()))
        .values("slot")
        .annotate(n=value if value is not None else Count("pk"))
        .order_by()
    )
    return [{"day": day, "value": counts.get(day, 0)} for day in period.each_day()]


def daily_joins(period: Period) -> list[dict]:
    """Members admitted per day."""
    from members.models import Member

    return _daily(Member.objects.all(), "joined_at", period)


def daily_active(period: Period) -> list[dict]:
    """Daily active members per day."""
    return [{"day": row["day"], "value": row["dau"]} for row in active_members(period)]


def daily_shares_sent(period: Period) -> list[dict]:
    """Shares posted on Weibo per day."""
    from share.models import Share

    return _daily(Share.objects.filter(state=Share.State.SENT), "sent_at", period)


def daily_points_issued(period: Period) -> list[dict]:
    """Points credited to spendable balances per day (as ``points_per_month`` counts them)."""
    stored = dict(
        LedgerDay.objects.filter(day__gte=period.start, day__lte=period.end).values_list(
            "day", "issued"
        )
    )
    missing = [day for day in period.each_day() if day not in stored]
    if missing:
        live = ledger_days_live(missing[0], missing[-1])
        stored.update({day: live[day]["issued"] if day in live else 0 for day in missing})
    return [{"day": day, "value": stored[day]} for day in period.each_day()]
