"""Forms of the member pages and the staff screens. They parse input; services decide."""

from __future__ import annotations

import uuid

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import Bucket, EntryKind, Redemption, Reward
from members.models import Tier


def new_request_key() -> str:
    """A fresh key for a form, so a double-submitted form acts once."""
    return uuid.uuid4().hex


# --- Member pages -------------------------------------------------------------------------------


class LedgerFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("类型"), required=False, choices=[("", _("全部类型")), *EntryKind.choices]
    )
    bucket = forms.ChoiceField(
        label=_("类别"), required=False, choices=[("", _("全部")), *Bucket.choices]
    )
    date_from = forms.DateField(
        label=_("从"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("到"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {key: value for key, value in self.cleaned_data.items() if value}


class RedeemForm(forms.Form):
    """Confirmation of a redemption; the address only for physical rewards."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    shipping_name = forms.CharField(label=_("收货人"), max_length=50, required=False)
    shipping_phone = forms.CharField(label=_("联系电话"), max_length=30, required=False)
    shipping_address = forms.CharField(
        label=_("收货地址"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, reward: Reward, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reward = reward
        if reward.fulfilment != Reward.Fulfilment.PHYSICAL:
            for name in ("shipping_name", "shipping_phone", "shipping_address"):
                del self.fields[name]
        else:
            for name in ("shipping_name", "shipping_phone", "shipping_address"):
                self.fields[name].required = True


# --- Staff --------------------------------------------------------------------------------------


class AccountSearchForm(forms.Form):
    q = forms.CharField(label=_("搜索会员"), required=False, max_length=100)


class AdjustForm(forms.Form):
    amount = forms.IntegerField(
        label=_("调整积分"), help_text=_("正数增加，负数扣减。"), min_value=-1_000_000,
        max_value=1_000_000,
    )  # fmt: skip
    reason = forms.CharField(label=_("原因（必填）"), max_length=200)
    counts_for_tier = forms.BooleanField(label=_("计入等级积分"), required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("调整数量不能为 0。"))
        return amount


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("原因（必填）"), max_length=200)


class ManualTierForm(forms.Form):
    tier = forms.ModelChoiceField(label=_("等级"), queryset=Tier.objects.order_by("rank"))
    until = forms.DateField(label=_("有效至（含）"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("原因（必填）"), max_length=200)

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until <= timezone.localdate():
            raise forms.ValidationError(_("结束日期须晚于今天。"))
        return until


class RedemptionFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("状态"), required=False, choices=[("", _("全部状态")), *Redemption.State.choices]
    )
    reward = forms.ModelChoiceField(
        label=_("礼品"), required=False, queryset=Reward.objects.order_by("name"),
        empty_label=_("全部礼品"),
    )  # fmt: skip
    q = forms.CharField(label=_("会员"), required=False, max_length=100)


class CouponImportForm(forms.Form):
    codes = forms.CharField(
        label=_("券码（每行一个）"), widget=forms.Textarea(attrs={"rows": 10}), max_length=200_000
    )

    def code_list(self) -> list[str]:
        return self.cleaned_data["codes"].splitlines()
