"""How scarce offers and activities are allocated: holds from the waiting list, and draws.

Design, and the invariants the database itself holds:

- ``ItemAllocation`` is staff's choice per item: first come (the default, also when the row is
  missing) or a draw with an entry window and weights by tier, and how long a hold lasts.
- A **hold** is a unit of stock kept for one member until a deadline. Holds count against the
  stock for everyone else: ``OfferInventory.held`` (with ``claimed + held <= total``) for
  offers, and for activities a ``Registration`` in state ``held``, counted in
  ``ActivitySeats.taken`` like a seat. Both change only under the stock row lock, together with
  the rows they count, so the cached numbers always equal the rows.
- ``OfferWaitlistEntry`` is an offer's waiting list (an activity's is its waitlisted
  registrations). At most one open (waiting or held) entry per member and offer, enforced by a
  partial unique constraint; ids are drawn under the inventory lock, so id order is queue order.
- ``Draw`` holds the secret seed and its published commitment (SHA-256 of the seed). The seed is
  shown only once the draw has run; ``DrawEntry`` rows are the entries, each with a random,
  pseudonymous ``public_id`` and the weight it was entered with. At most one live entry per
  member and draw. Once a draw has run, its entries and outcome never change.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["Draw", "DrawEntry", "ItemAllocation", "OfferWaitlistEntry"]

DEFAULT_HOLD_HOURS = 24


class ItemAllocation(models.Model):
    class Mode(models.TextChoices):
        FIRST_COME = "first_come", _("先到先得")
        DRAW = "draw", _("抽签")

    item = models.OneToOneField(
        "community.GatedPage", verbose_name=_("内容"), on_delete=models.CASCADE,
        related_name="allocation",
    )  # fmt: skip
    mode = models.CharField(
        _("分配方式"), max_length=12, choices=Mode.choices, default=Mode.FIRST_COME
    )
    hold_hours = models.PositiveSmallIntegerField(
        _("保留时长（小时）"), default=DEFAULT_HOLD_HOURS,
        help_text=_("候补或中签的会员须在此时长内确认，否则名额顺延给下一位。"),
    )  # fmt: skip
    entries_open_at = models.DateTimeField(_("抽签报名开始"), null=True, blank=True)
    entries_close_at = models.DateTimeField(_("抽签报名截止"), null=True, blank=True)
    # {tier code: weight}; a tier not listed counts 1.
    tier_weights = models.JSONField(_("等级权重"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("更新人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("分配设置")
        verbose_name_plural = _("分配设置")
        constraints = [
            models.CheckConstraint(
                condition=Q(hold_hours__gte=1) & Q(hold_hours__lte=24 * 14),
                name="allocation_hold_hours_range",
            ),
            models.CheckConstraint(
                condition=~Q(mode="draw")
                | Q(entries_open_at__isnull=False, entries_close_at__gt=F("entries_open_at")),
                name="allocation_draw_has_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.mode}"

    def weight_for(self, tier_code: str | None) -> int:
        try:
            weight = int((self.tier_weights or {}).get(tier_code or "", 1))
        except (TypeError, ValueError):
            weight = 1
        return max(weight, 1)


class Draw(models.Model):
    """One provably fair draw of an item's units among the members who entered."""

    class State(models.TextChoices):
        OPEN = "open", _("接受报名")
        DRAWN = "drawn", _("已开奖")

    item = models.OneToOneField(
        "community.GatedPage", verbose_name=_("内容"), on_delete=models.CASCADE,
        related_name="draw",
    )  # fmt: skip
    state = models.CharField(_("状态"), max_length=8, choices=State.choices, default=State.OPEN)
    seed = models.CharField(_("种子"), max_length=64)  # hex of 32 random bytes; secret until drawn
    commitment = models.CharField(_("承诺值"), max_length=64)  # sha256(seed bytes), hex
    committed_at = models.DateTimeField(_("公布承诺时间"), default=timezone.now)
    drawn_at = models.DateTimeField(_("开奖时间"), null=True, blank=True)
    units = models.PositiveIntegerField(_("抽出名额"), default=0)
    entries_digest = models.CharField(_("报名名单摘要"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("抽签")
        verbose_name_plural = _("抽签")
        constraints = [
            models.CheckConstraint(
                condition=Q(state="open", drawn_at__isnull=True)
                | Q(state="drawn", drawn_at__isnull=False),
                name="draw_drawn_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(seed="") & ~Q(commitment=""), name="draw_seed_committed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} ({self.state})"

    @property
    def drawn(self) -> bool:
        return self.state == self.State.DRAWN


class DrawEntry(models.Model):
    """One member's entry in a draw; after the draw, its place in draw order."""

    draw = models.ForeignKey(
        Draw, verbose_name=_("抽签"), on_delete=models.CASCADE, related_name="entries"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT,
        related_name="draw_entries",
    )  # fmt: skip
    public_id = models.CharField(_("报名编号"), max_length=16)
    weight = models.PositiveSmallIntegerField(_("权重"), default=1)
    created_at = models.DateTimeField(_("报名时间"), default=timezone.now)
    withdrawn_at = models.DateTimeField(_("退出时间"), null=True, blank=True)
    rank = models.PositiveIntegerField(_("抽签顺位"), null=True, blank=True)
    won = models.BooleanField(_("中签"), null=True, blank=True)

    class Meta:
        verbose_name = _("抽签报名")
        verbose_name_plural = _("抽签报名")
        constraints = [
            models.UniqueConstraint(
                fields=["draw", "member"], condition=Q(withdrawn_at__isnull=True),
                name="draw_entry_one_per_member",
            ),
            models.UniqueConstraint(fields=["draw", "public_id"], name="draw_entry_public_id"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="draw_entry_weight_positive"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.draw_id}#{self.public_id}"


class OfferWaitlistEntry(models.Model):
    """A member's place on an offer's waiting list, and the hold they were given."""

    class State(models.TextChoices):
        WAITING = "waiting", _("候补中")
        HELD = "held", _("保留中")
        CLAIMED = "claimed", _("已领取")
        LEFT = "left", _("已退出")
        EXPIRED = "expired", _("保留已过期")

    class Origin(models.TextChoices):
        WAITLIST = "waitlist", _("候补名单")
        DRAW_WON = "draw_won", _("中签")
        DRAW_LOST = "draw_lost", _("未中签候补")

    offer = models.ForeignKey(
        "community.OfferPage", verbose_name=_("优惠"), on_delete=models.CASCADE,
        related_name="waitlist",
    )  # fmt: skip
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT,
        related_name="offer_waitlist",
    )  # fmt: skip
    state = models.CharField(_("状态"), max_length=8, choices=State.choices)
    origin = models.CharField(
        _("来源"), max_length=10, choices=Origin.choices, default=Origin.WAITLIST
    )
    created_at = models.DateTimeField(_("加入时间"), default=timezone.now)
    held_at = models.DateTimeField(_("保留时间"), null=True, blank=True)
    hold_until = models.DateTimeField(_("保留截止"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("优惠候补")
        verbose_name_plural = _("优惠候补")
        constraints = [
            models.UniqueConstraint(
                fields=["offer", "member"], condition=Q(state__in=["waiting", "held"]),
                name="offer_waitlist_one_open_per_member",
            ),
            models.CheckConstraint(
                condition=~Q(state="held") | Q(hold_until__isnull=False, held_at__isnull=False),
                name="offer_waitlist_held_has_deadline",
            ),
        ]  # fmt: skip
        indexes = [models.Index(fields=["offer", "state", "id"], name="offer_waitlist_queue_idx")]

    def __str__(self) -> str:
        return f"{self.offer_id}/{self.member_id} ({self.state})"
