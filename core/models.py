"""Operational records shared by all apps: worker heartbeats and the audit trail."""

from django.db import models
from django.db.models import Func, Q
from django.utils.translation import gettext_lazy as _


class TransactionIdField(models.BigIntegerField):
    """PostgreSQL's ``xid8``: the 64-bit id of the transaction that wrote the row (never wraps)."""

    def db_type(self, connection) -> str:
        return "xid8"

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)


class WorkerHeartbeat(models.Model):
    """One row per heartbeat a Celery worker ran.

    Beat schedules a heartbeat every minute; ``/healthz`` reports the age of the newest one,
    which tells operators whether tasks are actually being executed, not merely enqueued.
    """

    token = models.CharField(_("标识"), max_length=64, unique=True)
    worker = models.CharField(_("执行者"), max_length=200)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("任务心跳")
        verbose_name_plural = _("任务心跳")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.worker} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


PSEUDONYM_PREFIX = "psn_"


def is_pseudonym(value) -> bool:
    """Whether a stored label is a pseudonym (``psn_`` and 16 hex digits)."""
    return (
        isinstance(value, str)
        and len(value) == 20
        and value.startswith(PSEUDONYM_PREFIX)
        and all(c in "0123456789abcdef" for c in value[4:])
    )


class AuditSubjectQuerySet(models.QuerySet):
    def labels(self, pseudonyms) -> dict[str, str]:
        """The current label of each pseudonym ("" once forgotten): the newest row wins."""
        wanted = {p for p in pseudonyms if is_pseudonym(p)}
        if not wanted:
            return {}
        labels: dict[str, str] = {}
        rows = (
            self.filter(pseudonym__in=wanted)
            .order_by("pseudonym", "-id")
            .values_list("pseudonym", "label", "forgotten_at")
        )
        for pseudonym, label, forgotten_at in rows:
            if pseudonym not in labels:
                labels[pseudonym] = "" if forgotten_at else label
        return labels


class AuditSubject(models.Model):
    """What a pseudonym in the audit trail stands for: a person, an object, an IP address.

    Audit entries are sealed into a keyed hash chain and never change, so they must not hold
    personal data that a member may ask us to erase: their labels, IP addresses and personal
    values are pseudonyms (``psn_...``), and this table maps each pseudonym to its label.
    Erasing a person blanks the label and key of every subject they own
    (``core.audit.audit_forget_person``); the chain is untouched and still verifies.

    Rows are only added (a changed label is a new row with the same pseudonym; the newest
    wins), so recording an entry never waits on another transaction's subject row.
    """

    class Kind(models.TextChoices):
        OBJECT = "object", _("对象")
        IP = "ip", _("IP 地址")
        VALUE = "value", _("个人数据")

    pseudonym = models.CharField(_("化名"), max_length=20, db_index=True)
    kind = models.CharField(_("类型"), max_length=10, choices=Kind.choices)
    # What the pseudonym stands for ("members.Member:7", or the owner, kind and value of an IP
    # address or personal value); blanked when forgotten, as it may itself be personal.
    key = models.CharField(max_length=300, blank=True, db_index=True)
    # The person the subject belongs to ("auth.User:5", "members.Member:7"), "" for none.
    owner = models.CharField(max_length=120, blank=True, db_index=True)
    # Text, not a short string: a value may be a member's whole comment (a moderation decision).
    label = models.TextField(_("名称"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    forgotten_at = models.DateTimeField(_("删除时间"), null=True, blank=True)

    objects = AuditSubjectQuerySet.as_manager()

    class Meta:
        verbose_name = _("审计化名")
        verbose_name_plural = _("审计化名")
        default_permissions = ()

    def __str__(self) -> str:
        return self.pseudonym


class AuditEntry(models.Model):
    """Append-only record of a staff action or an automated decision (see ``core.audit``).

    ``actor_label``, ``target_label`` and ``ip_ref`` hold pseudonyms for people and objects
    (``AuditSubject``); ``actor_name``, ``target_name`` and ``ip`` resolve them for display.
    PostgreSQL triggers refuse every UPDATE, DELETE and TRUNCATE except the sealer's one
    UPDATE that fills the empty hashes of an entry (migration ``0009``).
    """

    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    action = models.CharField(_("操作"), max_length=80, db_index=True)
    actor = models.ForeignKey(
        "auth.User", verbose_name=_("操作人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    actor_label = models.CharField(_("操作人（记录时）"), max_length=150)
    target_type = models.CharField(_("对象类型"), max_length=100, blank=True, db_index=True)
    target_id = models.CharField(_("对象编号"), max_length=64, blank=True, db_index=True)
    target_label = models.CharField(_("对象"), max_length=200, blank=True)
    before = models.JSONField(_("修改前"), default=dict, blank=True)
    after = models.JSONField(_("修改后"), default=dict, blank=True)
    reason = models.TextField(_("原因"), blank=True)
    # The pseudonym of the IP address the action came from ("" for none).
    ip_ref = models.CharField(_("IP 地址（化名）"), max_length=20, blank=True)
    # Set by the database on insert: the writing transaction. The chain order is (xact, id).
    xact = TransactionIdField(
        db_default=Func(function="pg_current_xact_id", output_field=models.BigIntegerField()),
        editable=False,
    )
    # Empty until ``core.audit.audit_seal`` chains the entry; set once, by the sealer only.
    previous_hash = models.CharField(max_length=64, blank=True)
    entry_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # The id of the key (``AUDIT_KEYS``) the entry's HMAC was computed with.
    key_id = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-id"]
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["xact", "id"], name="core_audit_chain_order"),
            models.Index(
                fields=["xact", "id"], condition=Q(entry_hash=""), name="core_audit_unsealed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    @property
    def sealed(self) -> bool:
        return bool(self.entry_hash)

    def payload(self) -> dict:
        """What the entry's HMAC covers (with the previous hash and the key id)."""
        return {
            "id": self.pk,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "action": self.action,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "target_label": self.target_label,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "ip": self.ip_ref,
        }

    # --- display: pseudonyms resolved to their current labels --------------------------------

    def pseudonyms(self) -> set[str]:
        """Every pseudonym the entry holds: its labels, IP address and personal values."""
        found = {v for v in (self.actor_label, self.target_label, self.ip_ref) if is_pseudonym(v)}
        _collect_pseudonyms(self.before, found)
        _collect_pseudonyms(self.after, found)
        return found

    def _labels(self) -> dict[str, str]:
        labels = getattr(self, "_resolved_labels", None)
        if labels is None:  # one entry alone; lists are resolved at once by core.audit
            labels = AuditSubject.objects.labels(self.pseudonyms())
            self._resolved_labels = labels
        return labels

    def _shown(self, value):
        if isinstance(value, dict):
            return {key: self._shown(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._shown(item) for item in value]
        return self._resolve(value) if is_pseudonym(value) else value

    @property
    def before_shown(self) -> dict:
        return self._shown(self.before)

    @property
    def after_shown(self) -> dict:
        return self._shown(self.after)

    def _resolve(self, value: str) -> str:
        if not is_pseudonym(value):
            return value
        return self._labels().get(value) or str(FORGOTTEN_LABEL)

    @property
    def actor_name(self) -> str:
        return self._resolve(self.actor_label)

    @property
    def target_name(self) -> str:
        return self._resolve(self.target_label) if self.target_label else self.target_id

    @property
    def ip(self) -> str | None:
        """The IP address the action came from; None when unknown or erased."""
        if not self.ip_ref:
            return None
        return self._labels().get(self.ip_ref) or None

    def delete(self, *args, **kwargs):
        raise PermissionError("audit entries are never deleted")


FORGOTTEN_LABEL = _("（个人数据已删除）")


def _collect_pseudonyms(value, found: set[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _collect_pseudonyms(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_pseudonyms(item, found)
    elif is_pseudonym(value):
        found.add(value)


class Notification(models.Model):
    """A message to one user, persisted first so nothing is lost while a socket is down.

    Services write it in the same transaction as the event that caused it; delivery over the
    websocket happens after commit (``core.notifications``).
    """

    class Kind(models.TextChoices):
        POINTS_AWARDED = "points_awarded", _("获得积分")
        POINTS_APPROVED = "points_approved", _("积分已到账")
        POINTS_EXPIRING = "points_expiring", _("积分即将过期")
        TIER_UP = "tier_up", _("等级提升")
        TIER_AT_RISK = "tier_at_risk", _("等级即将调整")
        REDEMPTION_FULFILLED = "redemption_fulfilled", _("兑换已发放")
        REDEMPTION_CANCELLED = "redemption_cancelled", _("兑换已取消")
        SHARE_SENT = "share_sent", _("分享成功")
        SHARE_FAILED = "share_failed", _("分享失败")
        SHARE_REAUTH = "share_reauth", _("需要重新授权微博")
        ITEM_OPENED = "item_opened", _("新内容向您开放")
        WAITLIST_PROMOTED = "waitlist_promoted", _("候补转正")
        DRAW_RESULT = "draw_result", _("抽签结果")
        OFFER_CLAIM_CANCELLED = "offer_claim_cancelled", _("优惠领取已取消")
        COMMENT_REPLY = "comment_reply", _("评论回复")
        COMMENT_MENTION = "comment_mention", _("有人提到了您")
        MODERATION = "moderation", _("审核结果")
        ADMISSION = "admission", _("入会结果")
        CLUB_MESSAGE = "club_message", _("俱乐部消息")

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("类型"), max_length=32, choices=Kind.choices)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    link = models.CharField(_("链接"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "read_at", "-id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"], name="notification_dedupe",
                condition=models.Q(dedupe_key__isnull=False),
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.title

    def as_event(self) -> dict:
        return {
            "type": "notification",
            "id": self.pk,
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "link": self.link,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


class NotificationPreference(models.Model):
    """A kind of notification the user muted."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=Notification.Kind.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_mute_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} mutes {self.kind}"


class DailyActiveMember(models.Model):
    """That an admitted member used the site on one local (Asia/Shanghai) day.

    The history behind DAU / WAU / MAU: ``last_seen_at`` only keeps the latest visit. Written at
    most once per member and day (``core.reports.services.daily_active_record``: a Redis key
    guards the insert, and the unique constraint makes a repeated insert a no-op).
    """

    day = models.DateField(_("日期"))
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.CASCADE,
        related_name="+", db_index=False,
    )  # fmt: skip

    class Meta:
        verbose_name = _("日活跃会员")
        verbose_name_plural = _("日活跃会员")
        default_permissions = ()
        # The dashboard's community charts (growth, activity, interaction, shares): marketing
        # staff see them without holding any right on member records.
        permissions = [("view_growth_report", _("可以查看会员增长与互动看板"))]
        constraints = [
            models.UniqueConstraint(fields=["day", "member"], name="daily_active_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.member_id}"


class ActiveMembersDay(models.Model):
    """DAU, WAU and MAU of one completed local day, computed once the day is over.

    Counting distinct members over sliding 7- and 30-day windows for every day of a year-long
    chart would read millions of ``DailyActiveMember`` rows per chart; a finished day never
    changes, so its three numbers are computed once (nightly, and for any day missed) and the
    chart reads one row per day. Days without a row (today, or before the first nightly run)
    are computed live from ``DailyActiveMember``.
    """

    day = models.DateField(_("日期"), primary_key=True)
    dau = models.PositiveIntegerField(_("日活跃"))
    wau = models.PositiveIntegerField(_("周活跃（7 天）"))
    mau = models.PositiveIntegerField(_("月活跃（30 天）"))
    computed_at = models.DateTimeField(_("计算时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("活跃会员日统计")
        verbose_name_plural = _("活跃会员日统计")
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.day}: {self.dau}/{self.wau}/{self.mau}"


class LedgerDay(models.Model):
    """Points issued, redeemed and expired on one completed local day, and the net change of
    spendable balances (definitions of ``core.reports.selectors.points_per_month``).

    The ledger is the largest table (millions of rows); a chart over months would otherwise
    aggregate a fresh slice of it on every view. A finished day's entries never change (the
    ledger is append-only and entries are dated when written), so each day is summed once.
    """

    day = models.DateField(_("日期"), primary_key=True)
    issued = models.BigIntegerField(_("发放"))
    redeemed = models.BigIntegerField(_("兑换"))
    expired = models.BigIntegerField(_("过期"))
    net = models.BigIntegerField(_("可用积分净变化"))
    computed_at = models.DateTimeField(_("计算时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("积分日统计")
        verbose_name_plural = _("积分日统计")
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.day}: +{self.issued} -{self.redeemed} -{self.expired}"


class InteractionWeek(models.Model):
    """Distinct members who commented, liked, registered or shared in one completed week
    (Monday to Sunday, local time): a distinct count cannot be added up from days, and counting
    it afresh means reading every interaction of the range."""

    week = models.DateField(_("周（周一）"), primary_key=True)
    interacting = models.PositiveIntegerField(_("互动会员"))
    computed_at = models.DateTimeField(_("计算时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("互动周统计")
        verbose_name_plural = _("互动周统计")
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.week}: {self.interacting}"
