"""Weibo's text rules, applied before anything is queued so the member hears about a problem
while still on the confirmation page rather than after a failed post.

The counting rule (documented by Weibo, mirrored by ``static/share/weibo-counter.js`` for the live
counter): a non-ASCII character counts 1, an ASCII character 0.5, every URL 10 (Weibo rewrites it
into a t.cn short link), rounded up; the limit is 140.
"""

from __future__ import annotations

import math
import re

from django.utils.translation import gettext as _

URL_RE = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
TOPIC_RE = re.compile(r"#[^#\s]+#")
URL_WEIGHT = 10
MAX_LENGTH = 140
PLACEHOLDERS = ("{member}", "{title}", "{link}")


def weibo_length(text: str) -> int:
    halves = 2 * URL_WEIGHT * len(URL_RE.findall(text))
    for char in URL_RE.sub("", text):
        halves += 1 if ord(char) < 128 else 2
    return math.ceil(halves / 2)


def fill_template(template: str, *, member: str, title: str, link: str) -> str:
    """Replace only our three placeholders; any other brace is kept as the staff wrote it."""
    text = template.replace("{member}", member).replace("{title}", title)
    if "{link}" in text:
        return text.replace("{link}", link)
    return f"{text.rstrip()} {link}"


def text_problems(text: str, *, link: str) -> list[str]:
    """What Weibo would refuse in this text, in the member's language; empty when fine."""
    problems = []
    if not text.strip():
        problems.append(_("请填写分享文字。"))
    if link not in text:
        problems.append(_("分享文字必须包含俱乐部链接，请不要删除它。"))
    if TOPIC_RE.search(URL_RE.sub(" ", text)):
        problems.append(_("微博不允许第三方应用发布带 #话题# 的内容，请去掉 # 号。"))
    length = weibo_length(text)
    if length > MAX_LENGTH:
        problems.append(
            _("分享文字有 %(length)s 字，超过微博的 %(limit)s 字上限。")
            % {"length": length, "limit": MAX_LENGTH}
        )
    return problems


def template_problems(template: str) -> list[str]:
    """For staff editing a template: the worst case must still fit, with a 10-character link."""
    sample = fill_template(template, member="会" * 10, title="题" * 20, link="https://x.cn/x")
    length = weibo_length(sample)
    if length > MAX_LENGTH:
        return [
            _("按最长昵称和标题估算有 %(length)s 字，超过微博的 %(limit)s 字上限。")
            % {"length": length, "limit": MAX_LENGTH}
        ]
    return []
