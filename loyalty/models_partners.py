"""Coalition partners: brands whose customers earn and burn the club's points.

Invariants kept by ``loyalty.services.partners`` and proved by ``reconcile_points``:

* **One ledger.** A partner's accruals, holds, releases and refunds are ordinary ``PointsEntry``
  rows carrying ``partner``; an accrual waits as a ``PendingAward`` (with ``partner``) like any
  pending points. Nothing else holds points.
* **A hold reserves lots like a redemption.** Placing a hold writes a ``redeem`` entry that takes
  from the member's lots under the account lock; capturing it changes only the hold's state;
  voiding, expiry and a refund write one ``refund`` entry that reverses the hold's entry and
  restores its lots. Per hold: entries net ``-amount`` while held or captured, 0 once voided,
  expired or refunded.
* **Links are the member's consent.** A partner acts for a member only through a live
  ``PartnerLink``; the link keeps the exact consent text the member confirmed (what is shared,
  with whom), its digest, the time and the address. Unlinking ends it for every later call.
* **Statements close once.** A ``PartnerStatement`` is the stored, append-only snapshot of one
  partner's month computed from the ledger; entries written later belong to a later month.
"""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel

from loyalty.models import ChoiceArrayField
from members.models import Member


class SharedField(models.TextChoices):
    """What a linked partner may read about the member (named in the link's consent)."""

    DISPLAY_NAME = "display_name", _("昵称")
    TIER = "tier", _("会员等级")
    BALANCE = "balance", _("可用积分")


class Partner(models.Model):
    """A partner brand, its exchange rate, its limits per member, and whether it may act."""

    class State(models.TextChoices):
        ACTIVE = "active", _("合作中")
        SUSPENDED = "suspended", _("已暂停")

    name = models.CharField(_("名称"), max_length=100)
    code = models.SlugField(
        _("代码"), max_length=40, unique=True, help_text=_("英文短代码，用于对账单和接口。")
    )
    logo = models.ForeignKey(
        "wagtailimages.Image", verbose_name=_("标志"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    contact_name = models.CharField(_("联系人"), max_length=50, blank=True)
    contact_email = models.EmailField(_("联系邮箱"), blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    point_value = models.DecimalField(
        _("每积分结算金额（元）"), max_digits=10, decimal_places=4, default=Decimal("0.0100"),
        help_text=_("例如 0.01 表示 1 积分 = ¥0.01，对账单按此换算。"),
    )  # fmt: skip
    earn_limit_day = models.PositiveIntegerField(
        _("每位会员每日发放上限"), null=True, blank=True, help_text=_("留空表示不限。")
    )
    earn_limit_month = models.PositiveIntegerField(_("每位会员每月发放上限"), null=True, blank=True)
    burn_limit_day = models.PositiveIntegerField(_("每位会员每日消耗上限"), null=True, blank=True)
    burn_limit_month = models.PositiveIntegerField(_("每位会员每月消耗上限"), null=True, blank=True)
    accrual_pending_hours = models.PositiveIntegerField(
        _("发放待确认小时数"), default=72,
        help_text=_("合作伙伴未确认的积分在这段时间后自动确认。"),
    )  # fmt: skip
    hold_minutes = models.PositiveIntegerField(
        _("冻结有效分钟数"), default=30, help_text=_("冻结的积分未扣款即自动释放。")
    )
    shared_fields = ChoiceArrayField(
        models.CharField(max_length=16, choices=SharedField.choices),
        verbose_name=_("向合作伙伴提供的信息"), default=list, blank=True,
        help_text=_("会员关联时的授权说明会逐项列出。"),
    )  # fmt: skip
    purpose = models.TextField(
        _("使用目的"), blank=True, help_text=_("写入授权说明：合作伙伴如何使用这些信息。")
    )
    counts_for_tier = models.BooleanField(
        _("计入等级"),
        default=False,
        help_text=_("勾选后，在该合作伙伴获得的积分计入会员等级评定。"),
    )
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    panels = [
        FieldRowPanel([FieldPanel("name"), FieldPanel("code")]),
        FieldPanel("logo"),
        MultiFieldPanel(
            [FieldPanel("contact_name"), FieldPanel("contact_email"), FieldPanel("contact_phone")],
            heading=_("联系方式"),
        ),
        FieldPanel("point_value"),
        MultiFieldPanel(
            [
                FieldRowPanel([FieldPanel("earn_limit_day"), FieldPanel("earn_limit_month")]),
                FieldRowPanel([FieldPanel("burn_limit_day"), FieldPanel("burn_limit_month")]),
            ],
            heading=_("每位会员的限额"),
        ),
        FieldRowPanel([FieldPanel("accrual_pending_hours"), FieldPanel("hold_minutes")]),
        FieldPanel("shared_fields"),
        FieldPanel("purpose"),
        FieldPanel("counts_for_tier"),
        FieldPanel("state"),
    ]

    class Meta:
        verbose_name = _("合作伙伴")
        verbose_name_plural = _("合作伙伴")
        ordering = ["name"]
        permissions = [
            ("manage_partner_keys", _("可以签发、轮换和吊销合作伙伴接口密钥")),
            ("close_statement", _("可以关闭合作伙伴月度对账单")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(point_value__gt=0), name="partner_value_gt_0"),
            models.CheckConstraint(
                condition=Q(hold_minutes__gte=1), name="partner_hold_minutes_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE


def new_link_id() -> str:
    """The opaque id a partner knows the member by: random, different for every link."""
    return "m_" + secrets.token_urlsafe(18)


class PartnerLink(models.Model):
    """A member's consent for one partner to act on their points (PIPL: separate consent)."""

    class State(models.TextChoices):
        LINKED = "linked", _("已关联")
        UNLINKED = "unlinked", _("已解除")

    partner = models.ForeignKey(
        Partner, verbose_name=_("合作伙伴"), on_delete=models.PROTECT, related_name="links"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("会员"), on_delete=models.PROTECT, related_name="partner_links"
    )
    public_id = models.CharField(_("对外编号"), max_length=40, unique=True, default=new_link_id)
    partner_reference = models.CharField(_("合作伙伴的会员编号"), max_length=100, blank=True)
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.LINKED)
    shared_fields = models.JSONField(_("提供的信息"), default=list)
    consent_text = models.TextField(_("会员确认的授权说明"))
    consent_sha256 = models.CharField(max_length=64)
    linked_at = models.DateTimeField(_("关联时间"), default=timezone.now)
    linked_ip = models.GenericIPAddressField(_("关联 IP"), null=True, blank=True)
    unlinked_at = models.DateTimeField(_("解除时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("合作伙伴关联")
        verbose_name_plural = _("合作伙伴关联")
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "member"], condition=Q(state="linked"), name="link_once_live"
            ),
            models.CheckConstraint(
                condition=Q(state="linked", unlinked_at__isnull=True)
                | Q(state="unlinked", unlinked_at__isnull=False),
                name="link_state_matches_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}↔{self.member_id} ({self.state})"

    @staticmethod
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()


def code_digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


class PartnerLinkRequest(models.Model):
    """A one-time code a partner shows its customer; the member confirms it on the club's site.

    Only the code's digest is kept. It works once, for ``LINK_CODE_MINUTES``.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("待确认")
        CONFIRMED = "confirmed", _("已确认")

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="link_requests")
    code_sha256 = models.CharField(max_length=64, unique=True)
    partner_reference = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    link = models.OneToOneField(
        PartnerLink, null=True, blank=True, on_delete=models.PROTECT, related_name="request"
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_permissions = ()
        constraints = [
            models.CheckConstraint(
                condition=Q(state="pending", link__isnull=True)
                | Q(state="confirmed", link__isnull=False),
                name="link_request_state_matches_link",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} #{self.pk} ({self.state})"


class PartnerHold(models.Model):
    """Points a partner reserved for a purchase: held → captured (→ refunded) / voided / expired.

    ``entry`` is the ``redeem`` entry that took the points from the member's lots when the hold
    was placed; ``release`` is the ``refund`` entry that reversed it (void, expiry, refund).
    Rows change only under the member's account lock.
    """

    class State(models.TextChoices):
        HELD = "held", _("已冻结")
        CAPTURED = "captured", _("已扣款")
        VOIDED = "voided", _("已撤销")
        EXPIRED = "expired", _("已过期释放")
        REFUNDED = "refunded", _("已退款")

    partner = models.ForeignKey(
        Partner, verbose_name=_("合作伙伴"), on_delete=models.PROTECT, related_name="holds"
    )
    account = models.ForeignKey(
        "loyalty.PointsAccount", on_delete=models.PROTECT, related_name="partner_holds"
    )
    link = models.ForeignKey(PartnerLink, on_delete=models.PROTECT, related_name="holds")
    amount = models.PositiveIntegerField(_("积分"))
    reference = models.CharField(_("合作伙伴订单号"), max_length=100, blank=True)
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.HELD)
    entry = models.OneToOneField(
        "loyalty.PointsEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    release = models.OneToOneField(
        "loyalty.PointsEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    expires_at = models.DateTimeField(_("冻结到期"))
    captured_at = models.DateTimeField(_("扣款时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("释放/退款时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("冻结时间"), default=timezone.now)

    class Meta:
        verbose_name = _("合作伙伴冻结")
        verbose_name_plural = _("合作伙伴冻结")
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(state="held"), name="partner_hold_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="partner_hold_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(state__in=["held", "captured"], release__isnull=True)
                | Q(state__in=["voided", "expired", "refunded"], release__isnull=False),
                name="partner_hold_state_matches_release",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["captured", "refunded"]) | Q(captured_at__isnull=False),
                name="partner_hold_captured_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} hold #{self.pk} {self.amount} ({self.state})"


class PartnerStatement(models.Model):
    """One partner's closed month, computed from the ledger and stored once (never changed).

    Signs: every figure is a positive number of points. ``net_points = issued - redeemed +
    released + refunded``; positive means the partner owes the club ``net_amount``.
    """

    partner = models.ForeignKey(
        Partner, verbose_name=_("合作伙伴"), on_delete=models.PROTECT, related_name="statements"
    )
    month = models.DateField(_("月份"))
    issued = models.IntegerField(_("发放积分"))
    redeemed = models.IntegerField(_("消耗积分"))
    released = models.IntegerField(_("撤销/过期释放"))
    refunded = models.IntegerField(_("退款退回"))
    expired = models.IntegerField(_("过期积分"))
    point_value = models.DecimalField(_("结算单价（元）"), max_digits=10, decimal_places=4)
    net_points = models.IntegerField(_("净积分"))
    net_amount = models.DecimalField(_("净额（元）"), max_digits=14, decimal_places=2)
    entries = models.PositiveIntegerField(_("记录数"))
    last_entry_id = models.BigIntegerField(null=True, blank=True)
    closed_at = models.DateTimeField(_("关闭时间"), default=timezone.now)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("合作伙伴对账单")
        verbose_name_plural = _("合作伙伴对账单")
        default_permissions = ("view",)
        ordering = ["-month"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "month"], name="statement_once_per_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="statement_month_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.month:%Y-%m}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("a closed statement never changes")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("a closed statement never changes")
