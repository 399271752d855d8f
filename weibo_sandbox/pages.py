"""The two HTML pages: Weibo's authorize page and the sandbox's public timeline.

Both are mobile-first, since members mostly log in from phones. Field names of the authorize form
are part of the sandbox's contract with browser tests (see the docs), so they change only together
with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from html import escape
from typing import Any

from .rules import CST, URL_RE
from .users import avatar_urls

_STYLE = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
background:#f2f2f5;color:#333}
.sandbox{background:#fff4e5;color:#a15c00;text-align:center;font-size:12px;padding:4px}
.bar{display:flex;align-items:center;gap:10px;background:#fff;border-bottom:1px solid #e6e6e6;
padding:10px 16px}
.logo{color:#fff;background:#e6162d;border-radius:6px;font-weight:bold;padding:2px 8px}
.bar h1{font-size:17px;margin:0}
main{max-width:560px;margin:12px auto;padding:0 12px}
.card{background:#fff;border-radius:10px;padding:16px;margin-bottom:12px}
.muted{color:#939393;font-size:13px}
.error{background:#fdecea;color:#b3261e;border-radius:6px;padding:8px 12px}
ul.accounts{list-style:none;margin:0;padding:0}
ul.accounts li{border-top:1px solid #f0f0f0}
ul.accounts label{display:flex;align-items:center;gap:12px;padding:10px 4px;cursor:pointer}
ul.accounts img,.status img.avatar{width:50px;height:50px;border-radius:50%}
.name{font-weight:600}
.v{color:#f5a623;font-size:12px;border:1px solid #f5a623;border-radius:3px;padding:0 3px}
.actions{display:flex;gap:12px;margin-top:16px}
.actions button{flex:1;font-size:16px;padding:11px;border-radius:6px;border:1px solid #d9d9d9;
background:#fff}
.actions button.allow{background:#ff8200;border-color:#ff8200;color:#fff}
.status header{display:flex;gap:10px;align-items:center}
.status .text{white-space:pre-wrap;word-break:break-all}
.status img.pic{max-width:100%;border-radius:6px}
a{color:#eb7350}
"""

_TEXT = {
    "zh": {
        "lang": "zh-CN",
        "title": "微博-应用授权",
        "heading": "微博授权",
        "sandbox": "沙盒环境 · 非真实微博",
        "asks": "申请使用你的微博帐号登录",
        "choose": "选择要授权的微博帐号",
        "followers": "粉丝",
        "grants": "授权后，该应用将获得：",
        "grant_info": "获得你的个人信息（昵称、头像、简介）",
        "grant_share": "分享内容到你的微博",
        "allow": "授权",
        "deny": "取消",
        "footer": "授权即表示你同意应用按其隐私政策使用上述信息。",
        "pick_one": "请选择一个微博帐号。",
        "verified": "V",
    },
    "en": {
        "lang": "en",
        "title": "Weibo - Authorize application",
        "heading": "Weibo Authorization",
        "sandbox": "Sandbox · not the real Weibo",
        "asks": "wants to use your Weibo account to sign you in",
        "choose": "Choose the Weibo account to authorize",
        "followers": "Followers",
        "grants": "If you allow it, the application will be able to:",
        "grant_info": "read your profile (nickname, avatar, bio)",
        "grant_share": "share content to your Weibo",
        "allow": "Allow",
        "deny": "Cancel",
        "footer": "By allowing, you agree to the application's use of this information.",
        "pick_one": "Please choose a Weibo account.",
        "verified": "V",
    },
}


def _page(lang: str, title: str, heading: str, banner: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<div class="sandbox">{escape(banner)}</div>\n'
        f'<div class="bar"><span class="logo">微博</span><h1>{escape(heading)}</h1></div>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def authorize_page(
    *,
    app_name: str,
    users: Iterable[Mapping[str, Any]],
    hidden: Mapping[str, str],
    base_url: str,
    language: str | None,
    error: bool = False,
) -> str:
    """Weibo's authorize page, with every sandbox user offered as an account to log in with."""
    text = _TEXT["en" if (language or "").lower().startswith("en") else "zh"]
    fields = "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in hidden.items()
    )
    rows = []
    for user in users:
        small, _, _ = avatar_urls(user, base_url)
        uid = escape(user["idstr"])
        badge = f' <span class="v">{text["verified"]}</span>' if user["verified"] else ""
        rows.append(
            f'<li><label for="uid-{uid}">'
            f'<input type="radio" name="uid" value="{uid}" id="uid-{uid}" required>'
            f'<img src="{escape(small)}" alt="" width="50" height="50">'
            f'<span><span class="name">{escape(user["screen_name"])}</span>{badge}<br>'
            f'<span class="muted">{text["followers"]} '
            f'<span class="followers">{user["followers_count"]:,}</span></span></span>'
            "</label></li>"
        )
    notice = f'<p class="error" role="alert">{text["pick_one"]}</p>' if error else ""
    body = (
        '<div class="card">\n'
        f'<p><strong class="app-name">{escape(app_name)}</strong> {text["asks"]}</p>\n'
        f"{notice}\n"
        '<form method="post" action="/oauth2/authorize">\n'
        f"{fields}\n"
        f'<p class="muted">{text["choose"]}</p>\n'
        f'<ul class="accounts">\n{"".join(rows)}\n</ul>\n'
        f'<p class="muted">{text["grants"]}</p>\n'
        f'<ul class="muted"><li>{text["grant_info"]}</li><li>{text["grant_share"]}</li></ul>\n'
        '<div class="actions">'
        f'<button type="submit" name="action" value="deny" class="deny" formnovalidate>'
        f"{text['deny']}</button>"
        f'<button type="submit" name="action" value="allow" class="allow">{text["allow"]}</button>'
        "</div>\n</form>\n"
        f'<p class="muted">{text["footer"]}</p>\n'
        "</div>"
    )
    return _page(text["lang"], text["title"], text["heading"], text["sandbox"], body)


def linkify(text: str) -> str:
    """Escape a status and make its URLs clickable, like Weibo's timeline does."""
    out, last = [], 0
    for match in URL_RE.finditer(text):
        out.append(escape(text[last : match.start()]))
        url = escape(match.group(0))
        out.append(f'<a href="{url}" rel="nofollow">{url}</a>')
        last = match.end()
    out.append(escape(text[last:]))
    return "".join(out)


def _local_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, CST).strftime("%Y-%m-%d %H:%M:%S")


def timeline_page(
    *,
    posts: list[Mapping[str, Any]],
    users: Mapping[str, Mapping[str, Any]],
    app_name: str,
    source_url: str,
    base_url: str,
) -> str:
    """Every status received, newest first: the demo's proof that a share reached Weibo."""
    articles = []
    for post in sorted(posts, key=lambda item: item["id"], reverse=True):
        user = users.get(post["uid"])
        name = user["screen_name"] if user else post["uid"]
        avatar = avatar_urls(user, base_url)[0] if user else ""
        picture = ""
        if post.get("pic"):
            src = f"{base_url}/pics/large/{post['pic']['sha256'][:32]}.{post['pic']['ext']}"
            picture = f'<p><img class="pic" src="{escape(src)}" alt="配图"></p>'
        articles.append(
            f'<article class="card status" id="status-{post["idstr"]}">'
            f'<header><img class="avatar" src="{escape(avatar)}" alt="" width="50" height="50">'
            f'<div><div class="name">{escape(name)}</div>'
            f'<div class="muted">{_local_time(post["created_at"])} 来自 '
            f'<a href="{escape(source_url)}" rel="nofollow">{escape(app_name)}</a></div></div>'
            "</header>"
            f'<p class="text">{linkify(post["text"])}</p>{picture}'
            f'<p class="muted">微博ID {post["idstr"]} · 用户ID {escape(post["uid"])} · '
            f"rip {escape(post['rip'])}</p>"
            "</article>"
        )
    listing = "\n".join(articles) or '<div class="card muted">还没有收到任何微博。</div>'
    body = (
        f'<p class="muted">共 {len(posts)} 条微博，最新的在最上面。'
        f'<a href="{escape(base_url)}/_sandbox/">刷新</a></p>\n{listing}'
    )
    return _page("zh-CN", "微博沙盒 · 公共时间线", "公共时间线", "沙盒环境 · 非真实微博", body)
