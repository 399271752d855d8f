"""The dashboard's charts: who may see each, its tables (HTML and CSV) and how it is drawn.

Who sees what (any one of a chart's permissions suffices; administrators and auditors hold
them all):

- community charts (members by tier, joins and funnel, active members, interaction, shares):
  ``core.view_growth_report`` (marketing editors), and the member manager through the member
  permissions for the member charts, the loyalty operator for tiers;
- redemptions: ``loyalty.view_redemption``; points and liability: ``loyalty.view_liability``
  (loyalty operators only, not marketing editors);
- moderation queue: ``community.view_comment`` (moderators).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.functional import Promise
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.reports import selectors
from core.reports.charts import WIDTH, Series, bar_chart, hbar_chart, line_chart, number
from core.reports.periods import Period

PERM_GROWTH = "core.view_growth_report"


@dataclass(frozen=True)
class Column:
    key: str
    label: Promise
    kind: str = "int"  # int | day | week | month | percent | tier | reward | code | bucket


@dataclass(frozen=True)
class Table:
    name: str
    title: Promise
    selector: Callable[[Period], list[dict]]
    columns: tuple[Column, ...]
    # (row key, column key, value key): show tidy rows as one row per period, one column each.
    pivot: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Chart:
    slug: str
    title: Promise
    definition: Promise
    perms: tuple[str, ...]
    tables: tuple[Table, ...]
    draw: Callable[..., list[SafeString]] = field(repr=False)

    def table(self, name: str | None) -> Table:
        return next((t for t in self.tables if t.name == name), self.tables[0])


# --- Labels -------------------------------------------------------------------------------------

AGE_LABELS = {
    "lt_1h": gettext_lazy("不到 1 小时"),
    "1h_6h": gettext_lazy("1–6 小时"),
    "6h_24h": gettext_lazy("6–24 小时"),
    "1d_3d": gettext_lazy("1–3 天"),
    "3d_7d": gettext_lazy("3–7 天"),
    "gt_7d": gettext_lazy("超过 7 天"),
    "all": gettext_lazy("全部待处理（不限日期）"),
}
# Weibo error codes by what they mean for the club.
ERROR_GROUPS = [
    ({21301, 21314, 21315, 21316, 21317, 21319, 21327, 21332}, gettext_lazy("微博授权失效")),
    ({10022, 10023, 10024, 20016}, gettext_lazy("发送过于频繁")),
    ({20017, 20018, 20019, 20020, 20021}, gettext_lazy("内容被微博拒绝")),
    ({10001, 10002, 10003, 10009, 21331}, gettext_lazy("微博服务暂时不可用")),
]


def error_label(code: int | None) -> str:
    if code is None:
        return _("未知原因")
    for codes, label in ERROR_GROUPS:
        if code in codes:
            return f"{code} {label}"
    return f"{code} {_('其他错误')}"


def cell(kind: str, value: Any) -> Any:
    """A value as shown in the HTML table and written to CSV (the same text in both)."""
    if value is None and kind not in ("tier", "code"):
        return ""
    if kind in ("day", "week"):
        return value.isoformat()
    if kind == "month":
        return value.strftime("%Y-%m")
    if kind == "tier":
        return value if value is not None else _("无等级")
    if kind == "code":
        return error_label(value)
    if kind == "bucket":
        return str(AGE_LABELS.get(value, value))
    return value


def matrix(table: Table, rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
    """Header and body of a table, pivoted when the table says so (with a total column)."""
    if table.pivot is None:
        header = [str(column.label) for column in table.columns]
        body = [[cell(column.kind, row[column.key]) for column in table.columns] for row in rows]
        return header, body
    row_key, column_key, value_key = table.pivot
    kinds = {column.key: column.kind for column in table.columns}
    names: list[Any] = []
    grid: dict[Any, dict[Any, Any]] = {}
    for row in rows:
        if row[column_key] not in names:
            names.append(row[column_key])
        grid.setdefault(row[row_key], {})[row[column_key]] = row[value_key]
    label = next(str(c.label) for c in table.columns if c.key == row_key)
    header = [label] + [str(cell(kinds[column_key], name)) for name in names] + [_("合计")]
    body = []
    for key, values in grid.items():
        numbers = [values.get(name, 0) for name in names]
        body.append([cell(kinds[row_key], key), *numbers, sum(numbers)])
    return header, body


def _short(kind: str, value: date) -> str:
    if kind == "month":
        return value.strftime("%Y-%m")
    return value.strftime("%m-%d")


def _cid(chart: Chart, part: str, width: int) -> str:
    """Element ids: the narrow (phone) drawing of a chart is a second SVG on the same page."""
    return f"chart-{chart.slug}{part}" + ("" if width == WIDTH else "-narrow")


def _desc(chart: Chart, summary: str) -> str:
    return f"{chart.definition} {summary}".strip()


# --- Drawings -----------------------------------------------------------------------------------


def draw_tiers(chart: Chart, data: dict[str, list[dict]], width: int = WIDTH) -> list[SafeString]:
    rows = data["members"]
    days = list(dict.fromkeys(row["day"] for row in rows))
    tiers = list(dict.fromkeys(row["tier"] for row in rows))
    values = {(row["day"], row["tier"]): row["members"] for row in rows}
    series = [Series(cell("tier", tier), [values[(day, tier)] for day in days]) for tier in tiers]
    last = "，".join(f"{s.label} {s.values[-1]}" for s in series if s.values)
    return [line_chart(
        width=width,
        chart_id=_cid(chart, "", width), title=str(chart.title), stacked=True,
        desc=_desc(chart, _("最后一天：%(values)s。") % {"values": last} if last else ""),
        labels=[_short("day", day) for day in days], series=series, y_label=_("会员数"),
    )]  # fmt: skip


def draw_joins(chart: Chart, data: dict[str, list[dict]], width: int = WIDTH) -> list[SafeString]:
    rows = data["weeks"]
    labels = [_short("week", row["week"]) for row in rows]
    weekly = bar_chart(
        width=width,
        chart_id=_cid(chart, "-weeks", width), title=_("每周入会与入会申请"), labels=labels,
        desc=_desc(chart, _("共入会 %(joins)s 人，申请 %(applications)s 份。") % {
            "joins": sum(r["joins"] for r in rows),
            "applications": sum(r["applications"] for r in rows)}),
        series=[Series(_("入会"), [r["joins"] for r in rows]),
                Series(_("入会申请"), [r["applications"] for r in rows])],
        y_label=_("人数（按周，周一开始）"),
    )  # fmt: skip
    steps = [
        (_("分享链接点击"), sum(r["share_clicks"] for r in rows)),
        (_("通过分享申请"), sum(r["share_applications"] for r in rows)),
        (_("通过分享入会"), sum(r["share_admitted"] for r in rows)),
    ]
    first = steps[0][1]
    notes = [number(value) + (f" · {value * 100 / first:.1f}%" if first and i else "")
             for i, (_label, value) in enumerate(steps)]  # fmt: skip
    funnel = hbar_chart(
        width=width,
        chart_id=_cid(chart, "-funnel", width), title=_("站外访客转化漏斗（整个时间段）"),
        desc=_("分享链接点击 %(a)s 次，之后申请 %(b)s 人，入会 %(c)s 人。")
        % {"a": steps[0][1], "b": steps[1][1], "c": steps[2][1]},
        labels=[label for label, _value in steps],
        series=[Series(_("人次"), [value for _label, value in steps])], notes=notes,
    )  # fmt: skip
    return [weekly, funnel]


def draw_active(chart: Chart, data: dict[str, list[dict]], width: int = WIDTH) -> list[SafeString]:
    rows = data["days"]
    last = rows[-1] if rows else None
    summary = (_("最后一天：日活 %(dau)s，周活 %(wau)s，月活 %(mau)s。") % last) if last else ""
    return [line_chart(
        width=width,
        chart_id=_cid(chart, "", width), title=str(chart.title), desc=_desc(chart, summary),
        labels=[_short("day", row["day"]) for row in rows],
        series=[Series(_("日活跃 DAU"), [r["dau"] for r in rows]),
                Series(_("周活跃 WAU（7 天）"), [r["wau"] for r in rows]),
                Series(_("月活跃 MAU（30 天）"), [r["mau"] for r in rows])],
        y_label=_("会员数"),
    )]  # fmt: skip


def draw_interaction(
    chart: Chart, data: dict[str, list[dict]], width: int = WIDTH
) -> list[SafeString]:
    rows = data["weeks"]
    rates = [r["rate"] for r in rows]
    known = [rate for rate in rates if rate is not None]
    summary = _("最近一周：%(rate)s。") % {"rate": number(known[-1], percent=True)} if known else ""
    return [line_chart(
        width=width,
        chart_id=_cid(chart, "", width), title=str(chart.title), desc=_desc(chart, summary),
        labels=[_short("week", r["week"]) for r in rows], percent=True,
        series=[Series(_("互动率"), rates)], y_label=_("互动会员 ÷ 活跃会员（按周）"),
    )]  # fmt: skip


def draw_shares(chart: Chart, data: dict[str, list[dict]], width: int = WIDTH) -> list[SafeString]:
    rows, failures = data["weeks"], data["failures"]
    labels = [_short("week", r["week"]) for r in rows]
    sent = sum(r["sent"] for r in rows)
    reach = sum(r["reach"] for r in rows)
    counts = bar_chart(
        width=width,
        chart_id=_cid(chart, "-weeks", width), title=_("每周微博分享"), labels=labels,
        desc=_desc(chart, _("共发布 %(sent)s 条，覆盖粉丝 %(reach)s。") % {
            "sent": sent, "reach": reach}),
        series=[Series(_("已发布"), [r["sent"] for r in rows]),
                Series(_("失败"), [r["failed"] for r in rows])],
        y_label=_("条数（按周）"),
    )  # fmt: skip
    reach_chart = line_chart(
        width=width,
        chart_id=_cid(chart, "-reach", width), title=_("每周已确认覆盖（分享时粉丝数之和）"),
        desc=_("共覆盖粉丝 %(reach)s。") % {"reach": reach}, labels=labels,
        series=[Series(_("覆盖"), [r["reach"] for r in rows], color="#009e73")],
        y_label=_("粉丝数"),
    )  # fmt: skip
    reasons = hbar_chart(
        width=width,
        chart_id=_cid(chart, "-failures", width), title=_("未能发布的分享，按原因"),
        desc=_("共 %(n)s 条。") % {"n": sum(r["shares"] for r in failures)},
        labels=[error_label(r["code"]) for r in failures],
        series=[Series(_("分享"), [r["shares"] for r in failures], color="#d55e00")],
    )  # fmt: skip
    return [counts, reach_chart, reasons]


def draw_redemptions(
    chart: Chart, data: dict[str, list[dict]], width: int = WIDTH
) -> list[SafeString]:
    rows = data["rewards"]
    rewards = list(dict.fromkeys(r["reward"] for r in rows))
    tiers = list(dict.fromkeys(r["tier"] for r in rows))
    counts = {(r["reward"], r["tier"]): r["redemptions"] for r in rows}
    return [hbar_chart(
        width=width,
        chart_id=_cid(chart, "", width), title=str(chart.title), labels=rewards,
        desc=_desc(chart, _("共 %(n)s 次兑换。") % {"n": sum(r["redemptions"] for r in rows)}),
        series=[Series(cell("tier", tier), [counts.get((reward, tier), 0) for reward in rewards])
                for tier in tiers],
    )]  # fmt: skip


def draw_points(chart: Chart, data: dict[str, list[dict]], width: int = WIDTH) -> list[SafeString]:
    rows = data["months"]
    labels = [_short("month", r["month"]) for r in rows]
    flows = bar_chart(
        width=width,
        chart_id=_cid(chart, "-flows", width), title=_("每月积分发放、兑换与过期"), labels=labels,
        desc=_desc(chart, _("发放 %(i)s，兑换 %(r)s，过期 %(e)s。") % {
            "i": sum(r["issued"] for r in rows), "r": sum(r["redeemed"] for r in rows),
            "e": sum(r["expired"] for r in rows)}),
        series=[Series(_("发放"), [r["issued"] for r in rows]),
                Series(_("兑换"), [r["redeemed"] for r in rows]),
                Series(_("过期"), [r["expired"] for r in rows])],
        y_label=_("积分"),
    )  # fmt: skip
    outstanding = line_chart(
        width=width,
        chart_id=_cid(chart, "-outstanding", width), title=_("未使用积分（负债），月末"),
        desc=_("最后：%(n)s。") % {"n": rows[-1]["outstanding"] if rows else 0}, labels=labels,
        series=[Series(_("未使用积分"), [r["outstanding"] for r in rows], color="#cc79a7")],
        y_label=_("积分"),
    )  # fmt: skip
    return [flows, outstanding]


def draw_moderation(
    chart: Chart, data: dict[str, list[dict]], width: int = WIDTH
) -> list[SafeString]:
    rows = [r for r in data["ages"] if r["bucket"] != "all"]
    total = next((r for r in data["ages"] if r["bucket"] == "all"), None)
    summary = (_("全部待处理：评论 %(held_comments)s 条，举报 %(open_reports)s 条。") % total
               if total else "")  # fmt: skip
    return [hbar_chart(
        width=width,
        chart_id=_cid(chart, "", width), title=str(chart.title), desc=_desc(chart, summary),
        labels=[str(AGE_LABELS[r["bucket"]]) for r in rows],
        series=[Series(_("待审核评论"), [r["held_comments"] for r in rows]),
                Series(_("待处理举报"), [r["open_reports"] for r in rows], color="#d55e00")],
    )]  # fmt: skip


# --- The catalogue ------------------------------------------------------------------------------


CHARTS: list[Chart] = [
    Chart(
        "tiers",
        gettext_lazy("各等级会员数"),
        gettext_lazy("每天结束时的会员人数，按当时的等级；退出的会员不计，暂停的会员计入。"),
        (PERM_GROWTH, "members.view_member", "loyalty.view_pointsaccount"),
        (
            Table(
                "members",
                gettext_lazy("各等级会员数"),
                selectors.members_by_tier,
                (
                    Column("day", gettext_lazy("日期"), "day"),
                    Column("tier", gettext_lazy("等级"), "tier"),
                    Column("members", gettext_lazy("会员数")),
                ),
                pivot=("day", "tier", "members"),
            ),
        ),
        draw_tiers,
    ),
    Chart(
        "joins",
        gettext_lazy("入会与站外转化"),
        gettext_lazy(
            "每周新入会会员和提交的入会申请；站外访客通过会员的微博分享链接进入（同一访客同一天"
            "计一次点击），之后申请和入会的人数。"
        ),
        (PERM_GROWTH, "members.view_member", "members.view_application"),
        (
            Table(
                "weeks",
                gettext_lazy("每周入会与转化"),
                selectors.joins_and_funnel,
                (
                    Column("week", gettext_lazy("周（周一）"), "week"),
                    Column("joins", gettext_lazy("入会")),
                    Column("applications", gettext_lazy("入会申请")),
                    Column("share_clicks", gettext_lazy("分享链接点击")),
                    Column("share_applications", gettext_lazy("通过分享申请")),
                    Column("share_admitted", gettext_lazy("通过分享入会")),
                ),
            ),
        ),
        draw_joins,
    ),
    Chart(
        "active",
        gettext_lazy("活跃会员（日活 / 周活 / 月活）"),
        gettext_lazy(
            "当天访问过网站的会员数，以及截至当天 7 天、30 天内访问过的会员数（每人只计一次）。"
        ),
        (PERM_GROWTH, "members.view_member"),
        (
            Table(
                "days",
                gettext_lazy("活跃会员"),
                selectors.active_members,
                (
                    Column("day", gettext_lazy("日期"), "day"),
                    Column("dau", gettext_lazy("日活跃")),
                    Column("wau", gettext_lazy("周活跃（7 天）")),
                    Column("mau", gettext_lazy("月活跃（30 天）")),
                ),
            ),
        ),
        draw_active,
    ),
    Chart(
        "interaction",
        gettext_lazy("每周互动率"),
        gettext_lazy("每周评论、点赞、报名活动或分享到微博的会员数，除以当周访问过网站的会员数。"),
        (PERM_GROWTH,),
        (
            Table(
                "weeks",
                gettext_lazy("每周互动率"),
                selectors.interaction_rate,
                (
                    Column("week", gettext_lazy("周（周一）"), "week"),
                    Column("interacting", gettext_lazy("互动会员")),
                    Column("active", gettext_lazy("活跃会员")),
                    Column("rate", gettext_lazy("互动率（%）"), "percent"),
                ),
            ),
        ),
        draw_interaction,
    ),
    Chart(
        "shares",
        gettext_lazy("微博分享与覆盖"),
        gettext_lazy(
            "每周成功发布到微博的分享数和已确认覆盖（分享时会员的粉丝数之和），以及未能发布的分享"
            "按微博错误原因统计。"
        ),
        (PERM_GROWTH, "share.view_share"),
        (
            Table(
                "weeks",
                gettext_lazy("每周分享"),
                selectors.shares_per_week,
                (
                    Column("week", gettext_lazy("周（周一）"), "week"),
                    Column("sent", gettext_lazy("已发布")),
                    Column("reach", gettext_lazy("已确认覆盖")),
                    Column("failed", gettext_lazy("失败")),
                ),
            ),
            Table(
                "failures",
                gettext_lazy("未能发布的原因"),
                selectors.share_failures,
                (
                    Column("code", gettext_lazy("原因"), "code"),
                    Column("shares", gettext_lazy("分享数")),
                ),
            ),
        ),
        draw_shares,
    ),
    Chart(
        "redemptions",
        gettext_lazy("积分兑换：按礼品和等级"),
        gettext_lazy("时间段内提交且未取消、未过期的兑换，按礼品和会员当前等级。"),
        ("loyalty.view_redemption",),
        (
            Table(
                "rewards",
                gettext_lazy("兑换"),
                selectors.redemptions_by_reward,
                (
                    Column("reward", gettext_lazy("礼品"), "reward"),
                    Column("tier", gettext_lazy("等级"), "tier"),
                    Column("redemptions", gettext_lazy("兑换次数")),
                    Column("points", gettext_lazy("消耗积分")),
                ),
            ),
        ),
        draw_redemptions,
    ),
    Chart(
        "points",
        gettext_lazy("积分发放、兑换、过期与负债"),
        gettext_lazy(
            "每月发放（获得、待确认转可用、人工加分）、兑换（扣除退还）和过期的积分，以及每月末"
            "会员未使用的积分合计（积分负债），口径与“积分负债”页相同。"
        ),
        ("loyalty.view_liability",),
        (
            Table(
                "months",
                gettext_lazy("每月积分"),
                selectors.points_per_month,
                (
                    Column("month", gettext_lazy("月份"), "month"),
                    Column("issued", gettext_lazy("发放")),
                    Column("redeemed", gettext_lazy("兑换")),
                    Column("expired", gettext_lazy("过期")),
                    Column("outstanding", gettext_lazy("月末未使用积分")),
                ),
            ),
        ),
        draw_points,
    ),
    Chart(
        "moderation",
        gettext_lazy("审核队列等待时间"),
        gettext_lazy(
            "现在等待审核的评论和待处理的举报，按已等待的时间；只计时间段内进入队列的，最后一行"
            "是不限日期的全部。"
        ),
        ("community.view_comment",),
        (
            Table(
                "ages",
                gettext_lazy("审核队列"),
                selectors.moderation_queue,
                (
                    Column("bucket", gettext_lazy("已等待"), "bucket"),
                    Column("held_comments", gettext_lazy("待审核评论")),
                    Column("open_reports", gettext_lazy("待处理举报")),
                ),
            ),
        ),
        draw_moderation,
    ),
]
CHARTS_BY_SLUG = {chart.slug: chart for chart in CHARTS}
ALL_PERMS = tuple(dict.fromkeys(perm for chart in CHARTS for perm in chart.perms))


@dataclass(frozen=True)
class Headline:
    """A number and its trend on the admin home, linking to its chart."""

    key: str
    label: Promise
    chart: str
    selector: Callable[[Period], list[dict]]
    total: bool  # the sum over the days, or the latest day's value


HEADLINES = [
    Headline("joins", gettext_lazy("近 30 天入会"), "joins", selectors.daily_joins, True),
    Headline("active", gettext_lazy("今日活跃会员"), "active", selectors.daily_active, False),
    Headline(
        "shares", gettext_lazy("近 30 天微博分享"), "shares", selectors.daily_shares_sent, True
    ),
    Headline(
        "points", gettext_lazy("近 30 天发放积分"), "points", selectors.daily_points_issued, True
    ),
]
