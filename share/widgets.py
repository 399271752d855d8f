"""Form widgets for share texts: a textarea with Weibo's live length counter."""

from django import forms


class WeiboTextarea(forms.Textarea):
    """Shows "n / 140" as staff type, counted the way Weibo counts (see share.text)."""

    def __init__(self, attrs=None) -> None:
        super().__init__({"rows": 3, "data-weibo-counter": "", **(attrs or {})})

    class Media:
        js = ["share/weibo-counter.js"]
