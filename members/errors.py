"""Refusals of the members app that other apps show too (the membership card's check-in code)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class CardCodeInvalid(DomainError):
    code = "card_code_invalid"
    default_message = _("无法识别这个会员卡二维码，请让会员打开会员卡重新出示。")


class CardCodeExpired(DomainError):
    """A genuine code from an earlier window: most likely a screenshot or a forwarded picture."""

    code = "card_code_expired"
    default_message = _(
        "这个会员卡二维码已过期（可能是截图或转发的图片），请会员本人打开会员卡页面出示实时二维码。"
    )
