"""Claims of offers, registrations for activities, check-in and view counts.

Design, and the invariants the database itself holds:

- ``OfferInventory`` is the one row per offer that claims lock (``SELECT … FOR UPDATE``). It
  caches ``claimed`` and ``held`` under that lock with ``F()`` and
  ``CheckConstraint(claimed + held <= total)``, so
  stock can never go below zero whatever the code above it does. ``total`` follows the size of
  the code pool (pool offers) or ``total_stock`` (shared-code offers).
- ``OfferCode`` is the pool of unique codes staff upload. A code is handed out by setting
  ``claimed_by``/``claimed_at`` once; ``OfferClaim.pool_code`` is one-to-one, so no code can be
  given twice even if every lock were forgotten.
- ``OfferClaim`` is append-only (a ledger row per claim): never updated or deleted, with a
  unique idempotency key so a repeated submission cannot claim twice. Staff taking a claim
  back write an ``OfferClaimCancellation`` beside it (one-to-one, so at most once); a claim
  without one is live.
- ``ActivitySeats`` is the per-activity row registrations lock; ``taken`` counts registered,
  held (kept for a member until a deadline, see ``community.models_allocation``) and
  attended members, ``CheckConstraint(taken <= capacity)``.
- ``Registration``: at most one open (not cancelled) registration per member and activity,
  enforced by a partial unique constraint. The waiting list is ordered by id: ids are drawn
  while the seat row is locked, so id order is the order members joined the list.
- ``ItemViewCount`` counts page views per item, viewer tier and day with a single upsert.

Lock order, everywhere: member row → ``OfferInventory``/``ActivitySeats`` → code or
registration rows → (loyalty's own rows, when points are charged).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = [
    "ActivitySeats",
    "ItemViewCount",
    "OfferClaim",
    "OfferClaimCancellation",
    "OfferCode",
    "OfferInventory",
    "Registration",
]


class OfferInventory(models.Model):
    offer = models.OneToOneField(
        "community.OfferPage", verbose_name=_("优惠"), on_delete=models.CASCADE,
        related_name="inventory",
    )  # fmt: skip
    total = models.PositiveIntegerField(_("总数量"), default=0)
    claimed = models.PositiveIntegerField(_("已领取"), default=0)
    # Units kept for a member of the waiting list or a draw winner until they claim or the
    # hold ends (``OfferWaitlistEntry`` in state held): nobody else may claim them.
    held = models.PositiveIntegerField(_("保留中"), default=0)

    class Meta:
        verbose_name = _("优惠库存")
        verbose_name_plural = _("优惠库存")
        constraints = [
            models.CheckConstraint(
                condition=Q(claimed__lte=F("total") - F("held")),
                name="offer_inventory_claimed_held_le_total",
            )
        ]

    def __str__(self) -> str:
        return f"{self.offer_id}: {self.claimed}/{self.total}"

    @property
    def remaining(self) -> int:
        return max(self.total - self.claimed - self.held, 0)


class OfferCode(models.Model):
    """One unique code of an offer's pool; handed out at most once."""

    offer = models.ForeignKey(
        "community.OfferPage", verbose_name=_("优惠"), on_delete=models.CASCADE,
        related_name="pool_codes",
    )  # fmt: skip
    code = models.CharField(_("券码"), max_length=64)
    claimed_by = models.ForeignKey(
        "members.Member", verbose_name=_("领取人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    claimed_at = models.DateTimeField(_("领取时间"), null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("上传人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    uploaded_at = models.DateTimeField(_("上传时间"), default=timezone.now)

    class Meta:
        verbose_name = _("券码")
        verbose_name_plural = _("券码池")
        constraints = [
            models.UniqueConstraint(fields=["offer", "code"], name="offer_code_unique"),
            models.CheckConstraint(
                condition=Q(claimed_by__isnull=True, claimed_at__isnull=True)
                | Q(claimed_by__isnull=False, claimed_at__isnull=False),
                name="offer_code_claimed_together",
            ),
            models.CheckConstraint(condition=~Q(code=""), name="offer_code_not_blank"),
        ]
        indexes = [
            models.Index(
                fields=["offer", "id"], condition=Q(claimed_by__isnull=True),
                name="offer_code_free_idx",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.offer_id}#{self.pk}"  # never the code itself: str() ends up in logs


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} rows are append-only")

    def delete(self):
        raise TypeError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    """A ledger row: written once, never updated or deleted (its table's trigger refuses too)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are append-only")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} rows are append-only")


class OfferClaimQuerySet(AppendOnlyQuerySet):
    def live(self):
        """Claims staff have not taken back: what counts against stock and per-member limits."""
        return self.filter(cancellation__isnull=True)


class OfferClaim(AppendOnlyModel):
    """One claim of one offer by one member (append-only ledger row)."""

    offer = models.ForeignKey(
        "community.OfferPage", verbose_name=_("优惠"), on_delete=models.PROTECT,
        related_name="claims",
    )  # fmt: skip
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT,
        related_name="offer_claims",
    )  # fmt: skip
    pool_code = models.OneToOneField(
        OfferCode, verbose_name=_("券码池条目"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="claim",
    )  # fmt: skip
    code = models.CharField(_("券码"), max_length=64)
    points_spent = models.PositiveIntegerField(_("消耗积分"), default=0)
    idempotency_key = models.CharField(_("幂等键"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("领取时间"), default=timezone.now)

    objects = OfferClaimQuerySet.as_manager()

    class Meta:
        verbose_name = _("领取记录")
        verbose_name_plural = _("领取记录")
        constraints = [
            models.UniqueConstraint(
                fields=["offer", "code"], condition=Q(pool_code__isnull=False),
                name="offer_claim_pool_code_once",
            ),
            models.CheckConstraint(condition=~Q(code=""), name="offer_claim_code_not_blank"),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="offer_claim_key_set"),
        ]  # fmt: skip
        indexes = [models.Index(fields=["member", "-created_at"], name="offer_claim_member_idx")]

    def __str__(self) -> str:
        return f"{self.offer_id}/{self.member_id}#{self.pk}"


class OfferClaimCancellation(AppendOnlyModel):
    """Staff took a claim back (append-only, at most one per claim).

    What it undid is recorded with it, as the member's statement and the audit log show it:
    the points price refunded, the points the claim had earned taken back, and whether the
    unit went back to stock. A shared-code unit does; a pool code does not, because the member
    has seen it, so it is void and never handed to anyone else.
    """

    claim = models.OneToOneField(
        OfferClaim, verbose_name=_("领取记录"), on_delete=models.PROTECT,
        related_name="cancellation",
    )  # fmt: skip
    reason = models.TextField(_("取消原因"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    points_refunded = models.PositiveIntegerField(_("退回积分"), default=0)
    points_taken_back = models.PositiveIntegerField(_("收回奖励积分"), default=0)
    stock_returned = models.BooleanField(_("名额已退回库存"), default=False)
    created_at = models.DateTimeField(_("取消时间"), default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("领取取消记录")
        verbose_name_plural = _("领取取消记录")
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="offer_claim_cancel_reason_set"),
        ]

    def __str__(self) -> str:
        return f"{self.claim_id} cancelled"


class ActivitySeats(models.Model):
    activity = models.OneToOneField(
        "community.ActivityPage", verbose_name=_("活动"), on_delete=models.CASCADE,
        related_name="seats",
    )  # fmt: skip
    capacity = models.PositiveIntegerField(_("名额"), default=0)
    taken = models.PositiveIntegerField(_("已占名额"), default=0)

    class Meta:
        verbose_name = _("活动名额")
        verbose_name_plural = _("活动名额")
        constraints = [
            models.CheckConstraint(
                condition=Q(taken__lte=F("capacity")), name="activity_seats_taken_le_capacity"
            )
        ]

    def __str__(self) -> str:
        return f"{self.activity_id}: {self.taken}/{self.capacity}"

    @property
    def free(self) -> int:
        return max(self.capacity - self.taken, 0)


class Registration(models.Model):
    class State(models.TextChoices):
        REGISTERED = "registered", _("已报名")
        HELD = "held", _("名额保留中")
        WAITLISTED = "waitlisted", _("候补中")
        CANCELLED = "cancelled", _("已取消")
        ATTENDED = "attended", _("已签到")

    class CheckinMethod(models.TextChoices):
        STAFF = "staff", _("工作人员签到")
        CARD = "card", _("会员卡扫码")
        # Kept for registrations checked in before the card: a code shared by the whole event.
        CODE = "code", _("签到码")

    activity = models.ForeignKey(
        "community.ActivityPage", verbose_name=_("活动"), on_delete=models.PROTECT,
        related_name="registrations",
    )  # fmt: skip
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT,
        related_name="activity_registrations",
    )  # fmt: skip
    state = models.CharField(_("状态"), max_length=12, choices=State.choices)
    created_at = models.DateTimeField(_("报名时间"), default=timezone.now)
    promoted_at = models.DateTimeField(_("候补转正时间"), null=True, blank=True)
    # A held registration keeps a seat (counted in ``ActivitySeats.taken``) until the member
    # confirms it or this moment passes.
    hold_until = models.DateTimeField(_("保留截止"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("取消时间"), null=True, blank=True)
    attended_at = models.DateTimeField(_("签到时间"), null=True, blank=True)
    checkin_method = models.CharField(
        _("签到方式"), max_length=8, choices=CheckinMethod.choices, blank=True
    )
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("签到操作人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("活动报名")
        verbose_name_plural = _("活动报名")
        constraints = [
            models.UniqueConstraint(
                fields=["activity", "member"], condition=~Q(state="cancelled"),
                name="registration_one_open_per_member",
            ),
            models.CheckConstraint(
                condition=Q(state="attended", attended_at__isnull=False)
                | (~Q(state="attended") & Q(attended_at__isnull=True)),
                name="registration_attended_has_time",
            ),
            models.CheckConstraint(
                condition=Q(state="cancelled", cancelled_at__isnull=False)
                | (~Q(state="cancelled") & Q(cancelled_at__isnull=True)),
                name="registration_cancelled_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="held") | Q(hold_until__isnull=False),
                name="registration_held_has_deadline",
            ),
        ]  # fmt: skip
        indexes = [
            models.Index(fields=["activity", "state", "id"], name="registration_queue_idx"),
            models.Index(fields=["member", "-created_at"], name="registration_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id}/{self.member_id} ({self.state})"


class ItemViewCount(models.Model):
    """Page views of an item by viewer tier (or viewer kind when not a member) and local day."""

    page = models.ForeignKey(
        "community.GatedPage", verbose_name=_("内容"), on_delete=models.CASCADE,
        related_name="view_counts",
    )  # fmt: skip
    tier_code = models.CharField(_("等级"), max_length=40)
    day = models.DateField(_("日期"))
    count = models.PositiveIntegerField(_("浏览次数"), default=0)

    class Meta:
        verbose_name = _("浏览统计")
        verbose_name_plural = _("浏览统计")
        constraints = [
            models.UniqueConstraint(
                fields=["page", "tier_code", "day"], name="item_view_count_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.page_id} {self.tier_code} {self.day}: {self.count}"
