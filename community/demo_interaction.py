"""Demo keywords and comments, one of them held for a moderator (idempotent)."""

from __future__ import annotations

from community.interaction import services
from community.models import GatedPage
from community.models_interaction import Comment, ModerationKeyword
from members.models import Member

DEMO_KEYWORDS = [
    ("代购", "hold", "疑似代购广告，先审后发"),
    ("加微信", "block", "站外引流"),
    ("傻", "censor", "不文明用语"),
    ("退款", "flag", "可能是客诉，提醒客服"),
]
DEMO_COMMENTS = [
    ("behind-the-collection", "1001000012", "设计师的手稿太美了，期待正式发布！"),
    ("behind-the-collection", "1001000013", "请问春夏系列什么时候到上海门店？"),
    ("behind-the-collection", "1001000014", "有没有人帮忙代购米兰限定款？"),  # held for review
    ("milan-backstage", "1001000011", "去年参加过后台探访，强烈推荐！"),
]


def load_interaction() -> list[str]:
    for word, action, note in DEMO_KEYWORDS:
        if not ModerationKeyword.objects.filter(word=word).exists():
            ModerationKeyword.objects.create(word=word, action=action, note=note)
    if Comment.objects.exists():
        return []
    for slug, uid, body in DEMO_COMMENTS:
        page = GatedPage.objects.filter(slug=slug).first()
        member = Member.objects.filter(weibo_uid=uid, state=Member.State.MEMBER).first()
        if page is None or member is None:
            continue
        services.comment_create(member=member, page=page.specific, body=body)
    held = Comment.objects.filter(state="held").count()
    return [f"Comments: {Comment.objects.count()} ({held} held for the moderation queue)"]
