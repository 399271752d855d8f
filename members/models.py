"""The member record and the ordered tiers.

A ``Member`` exists for every person who signed in with Weibo, admitted or not: the ``state``
says whether they are inside the club. Tiers are ordered by ``rank``; access rules compare
ranks, never names, so staff can rename tiers freely.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Tier(models.Model):
    code = models.SlugField(_("代码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=40)
    rank = models.PositiveSmallIntegerField(
        _("等级"), unique=True, help_text=_("数字越大等级越高。")
    )
    badge_colour = models.CharField(_("徽章颜色"), max_length=7, default="#8a8a8a")
    benefits = models.TextField(_("会员权益"), blank=True)

    class Meta:
        verbose_name = _("会员等级")
        verbose_name_plural = _("会员等级")
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    class State(models.TextChoices):
        APPLICANT = "applicant", _("申请中")
        MEMBER = "member", _("会员")
        SUSPENDED = "suspended", _("已暂停")
        LEFT = "left", _("已退出")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member"
    )
    state = models.CharField(
        _("状态"), max_length=16, choices=State.choices, default=State.APPLICANT, db_index=True
    )
    tier = models.ForeignKey(
        Tier, verbose_name=_("等级"), on_delete=models.PROTECT, null=True, blank=True
    )
    display_name = models.CharField(_("昵称"), max_length=100, blank=True)
    joined_at = models.DateTimeField(_("入会时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("会员")
        verbose_name_plural = _("会员")

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()

    @property
    def is_admitted(self) -> bool:
        return self.state == self.State.MEMBER
