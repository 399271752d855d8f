"""Loyalty: the points ledger, lots, pending points, earning rules, tiers and rewards.

Design overview: the invariants below are what ``loyalty.services`` keeps and what
``manage.py reconcile_points`` proves every night.

* **The ledger is append-only.** A ``PointsEntry`` is never updated or deleted (``save`` refuses
  updates, the queryset refuses ``update``/``delete``, and a PostgreSQL trigger refuses both in
  SQL). Corrections, refunds and expiry are new entries; a compensating entry points at the entry
  it compensates through ``reverses`` (unique: an entry is compensated at most once).
* **Two buckets.** ``available`` entries move the spendable balance, ``pending`` entries move
  points that are visible but not spendable. Per account::

      balance         == Σ amount of available entries == Σ remaining of its lots  (>= 0)
      pending         == Σ amount of pending entries   == Σ amount of open PendingAwards (>= 0)
      lifetime_earned == Σ amount of qualifying entries (earned points, for tiers)

* **Lots.** Every credit to the available bucket (earn, approval of pending points, positive
  adjustment) creates one ``PointsLot`` with its own expiry. Spends take from lots earliest expiry
  first, never-expiring lots last; each take is a ``LotConsumption`` row (entry, lot, amount),
  negative when a refund puts points back. ``0 <= remaining <= amount`` and
  ``remaining == amount - Σ consumption`` for every lot. Expiry is an explicit ``expire`` entry for
  a lot's remainder. A refund restores the very lots the spend consumed; a lot whose expiry has
  already passed is expired again in the same transaction, so a refund never resurrects expired
  points.
* **One lock per member.** ``PointsAccount`` holds the cached figures. They change only with
  ``F()`` in the transaction that writes the entry, after ``SELECT ... FOR UPDATE`` on the account
  row; lots, consumptions and pending awards of an account change only under that same lock. Lock
  order everywhere: account, then redemption, then reward (stock), then coupon code.
* **Tiers qualify on points earned** over a rolling window (``LoyaltySettings.qualifying_months``,
  12 by default), never on the balance: spending or expiry does not cost a member their tier, a
  reversed earn does. Qualifying entries carry
  ``qualifying_at``; ``QualifyingDay`` caches their sum per local day (written with the entry,
  under the account lock), so measuring the window reads one row per day at most however long the
  history: ``Σ QualifyingDay == lifetime_earned`` and each day equals its entries.
* **Partners write on the same ledger.** An entry a coalition partner caused carries
  ``partner``; its holds are ``redeem`` entries taking lots, reversed by one ``refund`` entry
  (see ``loyalty.models_partners``). Partner credits count toward tiers only when the partner's
  ``counts_for_tier`` says so.
* **Idempotency lives in unique constraints**: ``PointsEntry.idempotency_key`` (awards use natural
  keys such as ``award:r3:checkin:17:2026-05-01``), ``(account, idempotency_key)`` of a redemption
  (the client's ``Idempotency-Key``), ``(account, expires_at)`` of an expiry reminder.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey, ParentalManyToManyField
from modelcluster.models import ClusterableModel
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, MultiFieldPanel
from wagtail.contrib.settings.models import BaseGenericSetting, register_setting
from wagtail.models import Orderable

from members.models import Member, Segment, Tier, ZombieAudience


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk ``update``/``delete`` would bypass ``save``/``delete``: refuse them too."""

    def update(self, **kwargs):
        raise PermissionError(f"{self.model.__name__} rows are append-only")

    def delete(self):
        raise PermissionError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    """A row that is written once. The database refuses changes as well (migration 0002)."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"{type(self).__name__} rows are append-only")


# --- Settings -----------------------------------------------------------------------------------


@register_setting(icon="time")
class LoyaltySettings(BaseGenericSetting):
    """Validity of points, reminders and staff limits, as staff configure them."""

    class ExpiryPolicy(models.TextChoices):
        NEVER = "never", _("永不过期")
        MONTHS_AFTER = "months_after", _("获得后 N 个月过期")
        END_OF_MONTH = "end_of_month", _("获得 N 个月后的当月月底过期")
        END_OF_YEAR = "end_of_year", _("获得 N 个月后的当年年底过期")

    expiry_policy = models.CharField(
        _("积分有效期规则"), max_length=16, choices=ExpiryPolicy.choices,
        default=ExpiryPolicy.END_OF_MONTH,
    )  # fmt: skip
    expiry_months = models.PositiveSmallIntegerField(
        _("有效期月数 N"), default=12, help_text=_("规则为“永不过期”时不使用。")
    )
    reminder_days = models.PositiveSmallIntegerField(
        _("提前提醒天数"),
        default=30,
        help_text=_("积分到期前多少天提醒会员，也是“即将过期”的范围。"),
    )
    staff_daily_adjust_limit = models.PositiveIntegerField(
        _("每位工作人员每日调整额度"), default=5000,
        help_text=_("一位工作人员每天手动调整积分的绝对值合计上限；有“不限额度”权限者除外。"),
    )  # fmt: skip
    checkin_enabled = models.BooleanField(_("显示每日签到按钮"), default=True)
    qualifying_months = models.PositiveSmallIntegerField(
        _("等级资格期（月）"), default=12,
        validators=[MinValueValidator(1), MaxValueValidator(36)],
        help_text=_("等级按最近这么多个月（滚动计算）获得的积分评定；评估日仍为每年一次。"),
    )  # fmt: skip
    tier_risk_notice_days = models.PositiveSmallIntegerField(
        _("等级调整提前提醒天数"), default=30, validators=[MaxValueValidator(180)],
        help_text=_(
            "评估日前多少天提醒按目前积分将被降级的会员（每个评估周期一次）；0 表示不提醒。"
        ),
    )  # fmt: skip

    panels = [
        MultiFieldPanel(
            [FieldPanel("expiry_policy"), FieldPanel("expiry_months"), FieldPanel("reminder_days")],
            heading=_("积分有效期"),
        ),
        MultiFieldPanel(
            [FieldPanel("qualifying_months"), FieldPanel("tier_risk_notice_days")],
            heading=_("会员等级"),
        ),
        FieldPanel("staff_daily_adjust_limit"),
        FieldPanel("checkin_enabled"),
    ]

    class Meta:
        verbose_name = _("积分设置")
        constraints = [
            models.CheckConstraint(
                condition=Q(expiry_policy="never") | Q(expiry_months__gte=1),
                name="loyalty_settings_months_when_expiring",
            ),
            models.CheckConstraint(
                condition=Q(qualifying_months__gte=1, qualifying_months__lte=36),
                name="loyalty_settings_qualifying_months_range",
            ),
        ]


# --- Accounts, ledger, lots ---------------------------------------------------------------------


class PointsAccount(models.Model):
    """One per member: the cached balance and the member's tier qualification state.

    The figures change only through ``loyalty.services`` under ``select_for_update()``.
    """

    member = models.OneToOneField(
        Member, verbose_name=_("会员"), on_delete=models.PROTECT, related_name="points_account"
    )
    balance = models.IntegerField(_("可用积分"), default=0)
    pending = models.IntegerField(_("待确认积分"), default=0)
    lifetime_earned = models.IntegerField(_("累计获得积分"), default=0)
    tier_since = models.DateTimeField(_("当前等级起始"), null=True, blank=True)
    tier_evaluation_on = models.DateField(_("下次等级评估日"), null=True, blank=True, db_index=True)
    manual_tier = models.ForeignKey(
        Tier, verbose_name=_("手动等级"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    manual_tier_until = models.DateField(_("手动等级有效至"), null=True, blank=True)
    manual_tier_reason = models.TextField(_("手动等级原因"), blank=True)
    created_at = models.DateTimeField(_("开户时间"), default=timezone.now)

    class Meta:
        verbose_name = _("积分账户")
        verbose_name_plural = _("积分账户")
        default_permissions = ("view",)
        permissions = [
            ("adjust_points", _("可以调整积分、冲正记录")),
            ("adjust_points_unlimited", _("调整积分不受每日额度限制")),
            ("set_tier", _("可以手动设置会员等级")),
            ("view_liability", _("可以查看积分负债")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="points_balance_gte_0"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="points_pending_gte_0"),
            models.CheckConstraint(
                condition=Q(lifetime_earned__gte=0), name="points_lifetime_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(manual_tier__isnull=True) | Q(manual_tier_until__isnull=False),
                name="points_manual_tier_has_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.balance}"


class EntryKind(models.TextChoices):
    EARN = "earn", _("获得")
    REDEEM = "redeem", _("兑换")
    EXPIRE = "expire", _("过期")
    ADJUST = "adjust", _("人工调整")
    REFUND = "refund", _("退还")
    REVERSE = "reverse", _("冲正")
    APPROVE = "approve", _("待确认转可用")
    CANCEL_PENDING = "cancel_pending", _("待确认取消")


class Bucket(models.TextChoices):
    AVAILABLE = "available", _("可用")
    PENDING = "pending", _("待确认")


POSITIVE_KINDS = [EntryKind.EARN, EntryKind.REFUND]
NEGATIVE_KINDS = [EntryKind.REDEEM, EntryKind.EXPIRE, EntryKind.CANCEL_PENDING]
PENDING_KINDS = [EntryKind.EARN, EntryKind.APPROVE, EntryKind.CANCEL_PENDING]


class PointsEntry(AppendOnlyModel):
    """One change of a member's points (append-only)."""

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    amount = models.IntegerField(_("积分"))
    bucket = models.CharField(_("类别"), max_length=10, choices=Bucket.choices)
    kind = models.CharField(_("类型"), max_length=16, choices=EntryKind.choices)
    reason = models.CharField(_("说明"), max_length=200)
    reference_type = models.CharField(_("来源类型"), max_length=40, blank=True)
    reference_id = models.CharField(_("来源编号"), max_length=64, blank=True)
    rule = models.ForeignKey(
        "EarningRule", verbose_name=_("规则"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    redemption = models.ForeignKey(
        "Redemption", verbose_name=_("兑换"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="entries",
    )  # fmt: skip
    reverses = models.OneToOneField(
        "self", verbose_name=_("冲正/退还的记录"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="reversed_by",
    )  # fmt: skip
    idempotency_key = models.CharField(_("幂等键"), max_length=200, unique=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+", db_index=False,
    )  # fmt: skip
    partner = models.ForeignKey(
        "loyalty.Partner", verbose_name=_("合作伙伴"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+", db_index=False,
    )  # fmt: skip
    qualifying_at = models.DateTimeField(_("计入等级时间"), null=True, blank=True)
    balance_after = models.IntegerField(_("变动后可用积分"))
    created_at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = _("积分记录")
        verbose_name_plural = _("积分记录")
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["account", "created_at", "id"], name="entry_account_time"),
            models.Index(
                fields=["account", "kind", "created_at", "id"], name="entry_account_kind_time"
            ),
            models.Index(
                fields=["actor", "created_at"],
                condition=Q(kind="adjust"),
                name="entry_adjust_by_actor",
            ),
            # Time ranges over the whole ledger (the staff dashboard's day sums). Entries are
            # appended in time order and never change, which is what a BRIN index needs: a
            # few pages however long the ledger, and almost nothing to maintain per insert.
            BrinIndex(fields=["created_at"], name="entry_created_brin"),
            # A partner's entries by time: its statements and the member's partner activity.
            models.Index(
                fields=["partner", "created_at", "id"],
                condition=Q(partner__isnull=False),
                name="entry_partner_time",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="entry_amount_nonzero"),
            models.CheckConstraint(
                condition=~Q(kind__in=POSITIVE_KINDS) | Q(amount__gt=0),
                name="entry_sign_positive_kinds",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=NEGATIVE_KINDS) | Q(amount__lt=0),
                name="entry_sign_negative_kinds",
            ),
            models.CheckConstraint(
                condition=Q(bucket="available") | Q(kind__in=PENDING_KINDS),
                name="entry_pending_kinds",
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="entry_balance_after_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d}"


class QualifyingDay(models.Model):
    """Points earned (for tiers) by an account on one local day: the cache tier measures read."""

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    day = models.DateField()
    points = models.IntegerField(default=0)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="qualifying_day_once"),
            models.CheckConstraint(condition=Q(points__gte=0), name="qualifying_day_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}: {self.points}"


class PointsLot(models.Model):
    """Points credited together, with one expiry; ``remaining`` changes under the account lock."""

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="lots", db_index=False
    )
    entry = models.OneToOneField(
        PointsEntry, verbose_name=_("来源记录"), on_delete=models.PROTECT, related_name="lot"
    )
    amount = models.IntegerField(_("积分"))
    remaining = models.IntegerField(_("剩余"))
    expires_at = models.DateTimeField(_("到期时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("获得时间"), default=timezone.now)

    class Meta:
        verbose_name = _("积分批次")
        verbose_name_plural = _("积分批次")
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["account", "id"], name="lot_account"),
            models.Index(
                fields=["account", "expires_at", "id"],
                condition=Q(remaining__gt=0),
                name="lot_live_by_expiry",
            ),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_live_expiry"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="lot_amount_gt_0"),
            models.CheckConstraint(condition=Q(remaining__gte=0), name="lot_remaining_gte_0"),
            models.CheckConstraint(
                condition=Q(remaining__lte=F("amount")), name="lot_remaining_lte_amount"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount}"

    @property
    def last_valid_day(self):
        """The last local day the points can be used (``expires_at`` is the next midnight)."""
        if self.expires_at is None:
            return None
        return (timezone.localtime(self.expires_at) - timedelta(seconds=1)).date()


class LotConsumption(AppendOnlyModel):
    """How much an entry took from (positive) or put back into (negative) one lot."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="consumptions")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="consumptions")
    amount = models.IntegerField()

    class Meta:
        default_permissions = ("view",)
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="consumption_amount_nonzero"),
            models.UniqueConstraint(fields=["entry", "lot"], name="consumption_once_per_lot"),
        ]

    def __str__(self) -> str:
        return f"{self.entry_id}→{self.lot_id}: {self.amount}"


# --- Earning rules and pending points -----------------------------------------------------------


class Trigger(models.TextChoices):
    JOINED = "joined", _("入会")
    PROFILE_COMPLETED = "profile_completed", _("完善资料")
    DAILY_CHECKIN = "daily_checkin", _("每日签到")
    COMMENT_APPROVED = "comment_approved", _("评论通过审核")
    PHOTO_APPROVED = "photo_approved", _("活动照片通过审核")
    ACTIVITY_ATTENDED = "activity_attended", _("参加活动")
    OFFER_CLAIMED = "offer_claimed", _("领取优惠")
    SHARE_VERIFIED = "share_verified", _("分享已确认")
    SHARE_REFERRAL_APPLIED = "share_ref_applied", _("分享带来入会申请")
    SHARE_REFERRAL_ADMITTED = "share_ref_admitted", _("分享带来新会员")
    REFERRAL_JOINED = "referral_joined", _("邀请的好友入会")
    BIRTHDAY = "birthday", _("生日")
    TIER_REACHED = "tier_reached", _("达到等级")
    CUSTOM = "custom", _("自定义事件")


class ChoiceArrayField(ArrayField):
    """A list of choices edited as checkboxes (a plain ``ArrayField`` gets a text box)."""

    def formfield(self, **kwargs):
        defaults = {
            "form_class": forms.TypedMultipleChoiceField,
            "choices": self.base_field.choices,
            "coerce": self.base_field.to_python,
            "widget": forms.CheckboxSelectMultiple,
        }
        defaults.update(kwargs)
        return super(ArrayField, self).formfield(**defaults)


class EarningRule(ClusterableModel):
    """How many points an event earns, for whom, how often, and whether they wait as pending."""

    name = models.CharField(_("名称"), max_length=100)
    description = models.CharField(_("给会员看的说明"), max_length=200, blank=True)
    trigger = models.CharField(_("触发事件"), max_length=24, choices=Trigger.choices)
    event_code = models.SlugField(
        _("自定义事件代码"), max_length=60, blank=True,
        help_text=_("仅“自定义事件”使用，由调用方传入。"),
    )  # fmt: skip
    points = models.PositiveIntegerField(_("积分"))
    pending_days = models.PositiveSmallIntegerField(
        _("待确认天数"), default=0,
        help_text=_("0 表示立即可用；否则先记为待确认积分，期满自动转为可用，期间可被取消。"),
    )  # fmt: skip
    cap_per_day = models.PositiveIntegerField(_("每日次数上限"), null=True, blank=True)
    cap_per_week = models.PositiveIntegerField(_("每周次数上限"), null=True, blank=True)
    cap_per_month = models.PositiveIntegerField(_("每月次数上限"), null=True, blank=True)
    cap_lifetime = models.PositiveIntegerField(_("总次数上限"), null=True, blank=True)
    target_tiers = ParentalManyToManyField(
        Tier, verbose_name=_("适用等级"), blank=True, related_name="+",
        help_text=_("不选表示所有等级。"),
    )  # fmt: skip
    target_segments = ChoiceArrayField(
        models.CharField(max_length=12, choices=Segment.choices), verbose_name=_("适用用户分层"),
        blank=True, default=list,
        help_text=_("不选表示所有分层；分层每晚按近 90 天的活动重新计算。"),
    )  # fmt: skip
    zombie_audience = models.CharField(
        _("疑似僵尸号"), max_length=8, choices=ZombieAudience.choices,
        default=ZombieAudience.ALL,
        help_text=_("疑似僵尸号（粉丝极少、默认头像等，每晚重新判断）是否也能获得这条规则的积分。"),
    )  # fmt: skip
    active_from = models.DateTimeField(_("生效时间"), null=True, blank=True)
    active_until = models.DateTimeField(_("失效时间"), null=True, blank=True)
    enabled = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    panels = [
        FieldPanel("name"),
        FieldPanel("description"),
        FieldRowPanel([FieldPanel("trigger"), FieldPanel("event_code")]),
        FieldRowPanel([FieldPanel("points"), FieldPanel("pending_days")]),
        MultiFieldPanel(
            [
                FieldRowPanel([FieldPanel("cap_per_day"), FieldPanel("cap_per_week")]),
                FieldRowPanel([FieldPanel("cap_per_month"), FieldPanel("cap_lifetime")]),
            ],
            heading=_("次数上限（每位会员）"),
        ),
        FieldPanel("target_tiers", widget=forms.CheckboxSelectMultiple),
        FieldPanel("target_segments"),
        FieldPanel("zombie_audience"),
        InlinePanel("multipliers", heading=_("等级积分倍数"), label=_("倍数")),
        FieldRowPanel([FieldPanel("active_from"), FieldPanel("active_until")]),
        FieldPanel("enabled"),
    ]

    class Meta:
        verbose_name = _("积分规则")
        verbose_name_plural = _("积分规则")
        ordering = ["trigger", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="rule_points_gt_0"),
            models.CheckConstraint(
                condition=~Q(trigger="custom") | ~Q(event_code=""),
                name="rule_custom_has_code",
            ),
            models.CheckConstraint(
                condition=Q(active_from__isnull=True)
                | Q(active_until__isnull=True)
                | Q(active_until__gt=F("active_from")),
                name="rule_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.trigger == Trigger.CUSTOM and not self.event_code:
            raise ValidationError({"event_code": _("自定义事件需要填写事件代码。")})
        if self.active_from and self.active_until and self.active_until <= self.active_from:
            raise ValidationError({"active_until": _("失效时间须晚于生效时间。")})


class EarningRuleMultiplier(Orderable):
    rule = ParentalKey(EarningRule, on_delete=models.CASCADE, related_name="multipliers")
    tier = models.ForeignKey(Tier, verbose_name=_("等级"), on_delete=models.CASCADE)
    multiplier = models.DecimalField(_("倍数"), max_digits=4, decimal_places=2, default=1)

    panels = [FieldRowPanel([FieldPanel("tier"), FieldPanel("multiplier")])]

    class Meta(Orderable.Meta):
        verbose_name = _("等级积分倍数")
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="multiplier_gt_0"),
            models.UniqueConstraint(fields=["rule", "tier"], name="multiplier_once_per_tier"),
        ]

    def __str__(self) -> str:
        return f"{self.tier_id}×{self.multiplier}"


class PendingAward(models.Model):
    """Points awarded as pending: approved (moved to the balance) or cancelled later."""

    class State(models.TextChoices):
        PENDING = "pending", _("待确认")
        APPROVED = "approved", _("已确认")
        CANCELLED = "cancelled", _("已取消")

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="pending_awards"
    )
    rule = models.ForeignKey(
        EarningRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    partner = models.ForeignKey(
        "loyalty.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    natural_key = models.CharField(_("事件键"), max_length=160, db_index=True)
    amount = models.IntegerField(_("积分"))
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.PENDING)
    release_at = models.DateTimeField(_("自动确认时间"))
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="+")
    approve_entry = models.OneToOneField(
        PointsEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancel_entry = models.OneToOneField(
        PointsEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    decision_reason = models.CharField(_("处理说明"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = _("待确认积分")
        verbose_name_plural = _("待确认积分")
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["release_at"], condition=Q(state="pending"), name="pending_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="pending_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(state="pending", approve_entry__isnull=True, cancel_entry__isnull=True)
                | Q(state="approved", approve_entry__isnull=False, cancel_entry__isnull=True)
                | Q(state="cancelled", cancel_entry__isnull=False, approve_entry__isnull=True),
                name="pending_state_matches_entries",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.natural_key}: {self.amount} ({self.state})"


# --- Tiers --------------------------------------------------------------------------------------


class TierRequirement(models.Model):
    """What qualifies for a tier: points earned in the rolling qualifying window (12 months
    unless staff set another in ``LoyaltySettings``), and how it is kept."""

    tier = models.OneToOneField(
        Tier, verbose_name=_("等级"), on_delete=models.CASCADE, related_name="requirement"
    )
    threshold = models.PositiveIntegerField(
        _("资格期内获得积分门槛"),
        help_text=_("按资格期（积分设置，默认近 12 个月）内获得的积分计算，不是可用余额。"),
    )
    retain_percent = models.PositiveSmallIntegerField(
        _("保级比例（%）"), default=90,
        help_text=_("评估日时，资格期内获得的积分不低于门槛的这个比例即可保留等级。"),
    )  # fmt: skip
    grace_days = models.PositiveSmallIntegerField(
        _("升级后保护天数"), default=90, help_text=_("升级后这段时间内不会降级。")
    )

    panels = [
        FieldPanel("tier"),
        FieldPanel("threshold"),
        FieldRowPanel([FieldPanel("retain_percent"), FieldPanel("grace_days")]),
    ]

    class Meta:
        verbose_name = _("等级门槛")
        verbose_name_plural = _("等级门槛")
        ordering = ["threshold"]
        constraints = [
            models.CheckConstraint(
                condition=Q(retain_percent__gte=1, retain_percent__lte=100),
                name="tier_retain_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier}: {self.threshold}"

    @property
    def retain_points(self) -> int:
        """Points needed at an evaluation to keep the tier (rounded up)."""
        return -(-self.threshold * self.retain_percent // 100)


class TierChange(AppendOnlyModel):
    """A change of a member's tier, with what was measured and why (append-only)."""

    class Kind(models.TextChoices):
        UPGRADE = "upgrade", _("升级")
        DOWNGRADE = "downgrade", _("降级")
        MANUAL = "manual", _("手动设置")
        MANUAL_END = "manual_end", _("手动等级到期")

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="tier_changes"
    )
    kind = models.CharField(_("类型"), max_length=12, choices=Kind.choices)
    from_tier = models.ForeignKey(
        Tier, verbose_name=_("原等级"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("新等级"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    measured_points = models.IntegerField(_("资格期内获得积分"))
    reason = models.TextField(_("原因"), blank=True)
    manual_until = models.DateField(_("手动等级有效至"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = _("等级变动")
        verbose_name_plural = _("等级变动")
        default_permissions = ("view",)
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.from_tier_id}→{self.to_tier_id}"


# --- Rewards ------------------------------------------------------------------------------------


class Reward(models.Model):
    """A reward in the catalogue. ``issued`` is the stock counter: only services change it."""

    class Fulfilment(models.TextChoices):
        COUPON = "coupon", _("券码（从券码池发放）")
        PHYSICAL = "physical", _("实物（需收货地址）")
        DONATION = "donation", _("公益捐赠")

    class Period(models.TextChoices):
        DAY = "day", _("每天")
        WEEK = "week", _("每周")
        MONTH = "month", _("每月")

    name = models.CharField(_("名称"), max_length=100)
    description = models.TextField(_("介绍"), blank=True)
    image = models.ForeignKey(
        "wagtailimages.Image", verbose_name=_("图片"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    cost = models.PositiveIntegerField(_("所需积分"))
    min_tier = models.ForeignKey(
        Tier, verbose_name=_("最低等级"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    stock_total = models.PositiveIntegerField(
        _("总库存"), null=True, blank=True, help_text=_("留空表示不限量。")
    )
    issued = models.IntegerField(_("已兑出"), default=0, editable=False)
    limit_per_member = models.PositiveIntegerField(_("每人总限兑"), null=True, blank=True)
    limit_per_period = models.PositiveIntegerField(_("每人每周期限兑"), null=True, blank=True)
    limit_period = models.CharField(
        _("周期"), max_length=8, choices=Period.choices, default=Period.MONTH
    )
    visible_from = models.DateTimeField(_("展示开始"), null=True, blank=True)
    visible_until = models.DateTimeField(_("展示结束"), null=True, blank=True)
    redeemable_from = models.DateTimeField(_("兑换开始"), null=True, blank=True)
    redeemable_until = models.DateTimeField(_("兑换结束"), null=True, blank=True)
    fulfilment = models.CharField(
        _("发放方式"), max_length=10, choices=Fulfilment.choices, default=Fulfilment.COUPON
    )
    fulfil_within_days = models.PositiveSmallIntegerField(
        _("发放期限（天）"), default=30,
        help_text=_("实物和捐赠在此期限内未处理的兑换自动过期并退还积分。"),
    )  # fmt: skip
    live = models.BooleanField(_("上架"), default=True)
    sort_order = models.IntegerField(_("排序"), default=0)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    panels = [
        FieldPanel("name"),
        FieldPanel("description"),
        FieldPanel("image"),
        FieldRowPanel([FieldPanel("cost"), FieldPanel("min_tier")]),
        FieldRowPanel([FieldPanel("fulfilment"), FieldPanel("fulfil_within_days")]),
        FieldPanel("stock_total"),
        FieldRowPanel(
            [
                FieldPanel("limit_per_member"),
                FieldPanel("limit_per_period"),
                FieldPanel("limit_period"),
            ]
        ),
        FieldRowPanel([FieldPanel("visible_from"), FieldPanel("visible_until")]),
        FieldRowPanel([FieldPanel("redeemable_from"), FieldPanel("redeemable_until")]),
        FieldRowPanel([FieldPanel("live"), FieldPanel("sort_order")]),
    ]

    class Meta:
        verbose_name = _("积分礼品")
        verbose_name_plural = _("积分礼品")
        ordering = ["sort_order", "cost", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(cost__gt=0), name="reward_cost_gt_0"),
            models.CheckConstraint(condition=Q(issued__gte=0), name="reward_issued_gte_0"),
            models.CheckConstraint(
                condition=Q(stock_total__isnull=True) | Q(issued__lte=F("stock_total")),
                name="reward_issued_lte_stock",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        """Staff edits never write ``issued``: redemptions change it in SQL under lock."""
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.attname for f in self._meta.concrete_fields if not f.primary_key
                and f.name not in ("issued", "created_at")
            ]  # fmt: skip
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = {}
        if self.pk and self.stock_total is not None:
            issued = Reward.objects.filter(pk=self.pk).values_list("issued", flat=True).first()
            if issued and self.stock_total < issued:
                errors["stock_total"] = _("总库存不能少于已兑出的 %(n)s 件。") % {"n": issued}
        windows = (("visible_from", "visible_until"), ("redeemable_from", "redeemable_until"))
        for start_name, end_name in windows:
            start, end = getattr(self, start_name), getattr(self, end_name)
            if start and end and end <= start:
                errors[end_name] = _("结束时间须晚于开始时间。")
        if errors:
            raise ValidationError(errors)

    @property
    def stock_left(self) -> int | None:
        return None if self.stock_total is None else max(self.stock_total - self.issued, 0)


class Redemption(models.Model):
    """One redemption of a reward by a member: requested → fulfilled / cancelled / expired."""

    class State(models.TextChoices):
        REQUESTED = "requested", _("待发放")
        FULFILLED = "fulfilled", _("已发放")
        CANCELLED = "cancelled", _("已取消")
        EXPIRED = "expired", _("已过期")

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="redemptions")
    reward = models.ForeignKey(
        Reward, verbose_name=_("礼品"), on_delete=models.PROTECT, related_name="redemptions"
    )
    cost = models.PositiveIntegerField(_("消耗积分"))
    state = models.CharField(
        _("状态"), max_length=10, choices=State.choices, default=State.REQUESTED, db_index=True
    )
    idempotency_key = models.CharField(_("请求幂等键"), max_length=100, blank=True)
    shipping_name = models.CharField(_("收货人"), max_length=50, blank=True)
    shipping_phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    shipping_address = models.CharField(_("收货地址"), max_length=300, blank=True)
    staff_note = models.CharField(_("发放备注"), max_length=200, blank=True)
    fulfil_by = models.DateTimeField(_("发放期限"), null=True, blank=True)
    created_at = models.DateTimeField(_("兑换时间"), default=timezone.now)
    fulfilled_at = models.DateTimeField(_("发放时间"), null=True, blank=True)
    fulfilled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    closed_at = models.DateTimeField(_("取消/过期时间"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    close_reason = models.CharField(_("取消原因"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("积分兑换")
        verbose_name_plural = _("积分兑换")
        default_permissions = ("view", "change")
        indexes = [
            models.Index(fields=["account", "-created_at"], name="redemption_by_account"),
            models.Index(fields=["state", "created_at"], name="redemption_queue"),
            models.Index(
                fields=["fulfil_by"], condition=Q(state="requested"), name="redemption_due"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(cost__gt=0), name="redemption_cost_gt_0"),
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="redemption_idempotency_key",
            ),
            models.CheckConstraint(
                condition=~Q(state="fulfilled") | Q(fulfilled_at__isnull=False),
                name="redemption_fulfilled_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["cancelled", "expired"]) | Q(closed_at__isnull=False),
                name="redemption_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reward_id} ({self.state})"


class CouponCode(models.Model):
    """A code in a reward's pool; handed out once, picked ``FOR UPDATE SKIP LOCKED``."""

    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="coupon_codes")
    code = models.CharField(_("券码"), max_length=64)
    redemption = models.OneToOneField(
        Redemption, null=True, blank=True, on_delete=models.PROTECT, related_name="coupon"
    )
    assigned_at = models.DateTimeField(_("发放时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("导入时间"), default=timezone.now)

    class Meta:
        verbose_name = _("券码")
        verbose_name_plural = _("券码")
        default_permissions = ("view", "add")
        indexes = [
            models.Index(
                fields=["reward", "id"], condition=Q(redemption__isnull=True), name="coupon_free"
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["reward", "code"], name="coupon_unique_in_pool"),
            models.CheckConstraint(
                condition=Q(redemption__isnull=True) | Q(assigned_at__isnull=False),
                name="coupon_assigned_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class ExpiryReminder(models.Model):
    """That a member was told about points expiring at ``expires_at`` (sent once)."""

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="+")
    expires_at = models.DateTimeField()
    points = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["account", "expires_at"], name="reminder_once_per_expiry"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.expires_at:%Y-%m-%d}: {self.points}"


# Coalition partners (their own module; the ledger above carries ``partner`` on entries).
from loyalty.models_partners import (  # noqa: E402, F401
    Partner,
    PartnerHold,
    PartnerLink,
    PartnerLinkRequest,
    PartnerStatement,
    SharedField,
)
