"""What to do about each Weibo error code: one table for login, token checks and sharing.

Weibo's answers carry an ``error_code`` whose first digit is its class (1xxxx system errors,
2xxxx service errors, of which 213xx concern authorisation). The HTTP status that comes with it
is not documented and not consistent (400 for content errors, 403 for rate limits, 5xx for
outages, seen through proxies as bare HTML), so decisions are made on the code alone:

- ``RETRY``: Weibo could not do it now; try again with backoff.
- ``RATE_LIMIT``: the member (or the app, or our IP) hit a Weibo limit; wait for the hourly
  window to turn, then try again.
- ``REAUTH``: the token is unusable; nothing helps until the member authorises the app again.
- ``FAIL``: permanent; trying the same request again gets the same answer. ``editable`` rules
  are about the text or picture: the member can change it and share again.

A code missing from the table is decided by its class (``classify``): 1xxxx transient, 213xx
re-authorisation, other 2xxxx permanent. Reasons are lazy translations, rendered in the reader's
language wherever they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Action(StrEnum):
    RETRY = "retry"
    RATE_LIMIT = "rate_limit"
    REAUTH = "reauth"
    FAIL = "fail"


@dataclass(frozen=True)
class ErrorRule:
    code: int | None
    action: Action
    reason: Promise | str
    editable: bool = False  # permanent, but about the content: editing the text can fix it
    in_doubt: bool = False  # Weibo may have done it after all (the next attempt must tell)

    @property
    def transient(self) -> bool:
        return self.action in (Action.RETRY, Action.RATE_LIMIT)


_BUSY = _("微博服务暂时不可用。")
_APP = _("本站的微博应用配置有误，工作人员会处理。")
_REQUEST = _("发往微博的请求有误，工作人员会处理。")
_TOKEN = _("微博授权已失效，请重新授权。")
_RATE = _("已达到微博的发布频率上限，整点过后会自动继续。")

R, L, A, F = Action.RETRY, Action.RATE_LIMIT, Action.REAUTH, Action.FAIL

#: code → (action, member-facing reason, editable). Sources: Weibo's open-platform error-code
#: list (API v2) and the statuses/share documentation; see docs/share.md for the table.
_TABLE: dict[int, tuple[Action, Promise, bool]] = {
    # System errors (1xxxx)
    10001: (R, _BUSY, False),  # system error
    10002: (R, _BUSY, False),  # service unavailable
    10003: (R, _BUSY, False),  # remote service error
    10004: (F, _("微博限制了本站服务器的访问，工作人员会处理。"), False),  # IP limit
    10005: (F, _APP, False),  # permission denied, needs a higher-level app key
    10006: (F, _APP, False),  # source (app key) missing
    10007: (F, _REQUEST, False),  # unsupported media type
    10008: (F, _REQUEST, False),  # parameter error
    10009: (R, _BUSY, False),  # too many pending tasks
    10010: (R, _BUSY, False),  # job expired
    10011: (R, _BUSY, False),  # RPC error
    10012: (F, _REQUEST, False),  # illegal request
    10013: (F, _("微博认为这个微博账户不可用。"), False),  # invalid weibo user
    10014: (F, _("本站的微博应用没有这项权限，工作人员会处理。"), False),  # app permissions
    10016: (F, _REQUEST, False),  # missing required parameter
    10017: (F, _("文字中必须包含本站链接，且不能有#话题#。"), True),  # invalid value (domain)
    10018: (F, _("图片或文字太大。"), True),  # request body over limit
    10020: (F, _REQUEST, False),  # API not found
    10021: (F, _REQUEST, False),  # HTTP method not supported
    10022: (L, _RATE, False),  # IP requests out of rate limit
    10023: (L, _RATE, False),  # user requests out of rate limit
    10024: (L, _RATE, False),  # user requests for one API out of rate limit
    # Service errors (2xxxx)
    20001: (F, _REQUEST, False),  # IDs is null
    20002: (F, _REQUEST, False),  # uid is null
    20003: (F, _("微博上找不到这个账户。"), False),  # user does not exist
    20005: (F, _("图片格式不被微博接受。"), True),  # unsupported image type
    20006: (F, _("图片太大。"), True),  # image too large
    20007: (F, _("图片没有上传成功。"), True),  # multipart without image
    20008: (F, _("分享文字为空。"), True),  # content is null
    20012: (F, _("文字超过 140 字。"), True),  # text too long
    20013: (F, _("文字太长。"), True),  # text too long (300)
    20014: (F, _REQUEST, False),  # param is error
    20015: (F, _("微博限制了这个账户或本站应用，暂时无法发布。"), False),  # account/IP/app illegal
    20016: (L, _("发布太快了，微博要求稍等一会儿，稍后会自动继续。"), False),  # posting too fast
    20017: (F, _("短时间内发布了相似的内容。"), True),  # similar content
    20018: (F, _("内容包含微博不允许的网址。"), True),  # illegal URL
    20019: (F, _("与你上一条微博内容重复。"), True),  # repeat content
    20020: (F, _("微博认为内容含有广告。"), True),  # advertising
    20021: (F, _("微博认为内容违规。"), True),  # illegal content
    20022: (F, _("微博认为本站的请求异常，暂时无法发布。"), False),  # suspicious IP behaviour
    20031: (F, _("微博要求验证身份，请先在微博上完成验证。"), False),  # needs a captcha
    20111: (F, _("不能发布相同的微博。"), True),  # repeated text
    # Authorisation errors (213xx)
    21301: (A, _TOKEN, False),  # auth failed
    21302: (A, _TOKEN, False),  # username or password error
    21303: (L, _RATE, False),  # username/password auth out of rate limit
    21304: (F, _APP, False),  # version rejected
    21305: (F, _APP, False),  # parameter absent
    21306: (F, _APP, False),  # parameter rejected
    21307: (R, _BUSY, False),  # timestamp refused (a clock skew passes)
    21308: (R, _BUSY, False),  # nonce used
    21309: (F, _APP, False),  # signature method rejected
    21310: (F, _APP, False),  # signature invalid
    21311: (F, _APP, False),  # consumer key unknown
    21312: (F, _APP, False),  # consumer key refused
    21313: (F, _APP, False),  # consumer key missing
    21314: (A, _TOKEN, False),  # token used
    21315: (A, _("微博授权已过期，请重新授权。"), False),  # token expired
    21316: (A, _("微博授权已被撤销，请重新授权。"), False),  # token revoked
    21317: (A, _TOKEN, False),  # token rejected
    21318: (A, _TOKEN, False),  # verifier failed
    21319: (A, _("微博授权已被撤销，请重新授权。"), False),  # accessor revoked
    21320: (F, _APP, False),  # OAuth2 must use https
    # 21321: an unaudited app over its limit of authorising users
    21321: (F, _("本站的微博应用尚未通过审核，暂时无法发布。"), False),
    21322: (F, _APP, False),  # redirect_uri_mismatch
    21323: (F, _REQUEST, False),  # invalid_request
    21324: (F, _APP, False),  # invalid_client
    21325: (A, _("微博授权码无效或已过期，请重新授权。"), False),  # invalid_grant
    21326: (F, _APP, False),  # unauthorized_client
    21327: (A, _("微博授权已过期，请重新授权。"), False),  # expired_token
    21328: (F, _APP, False),  # unsupported_grant_type
    21329: (F, _APP, False),  # unsupported_response_type
    21330: (A, _("你在微博上取消了授权。"), False),  # access_denied
    21331: (R, _BUSY, False),  # temporarily_unavailable
    21332: (A, _TOKEN, False),  # invalid_access_token
    21337: (F, _("本站的微博应用没有这项权限，工作人员会处理。"), False),  # app permission denied
}

#: No answer at all (timeout, dropped connection, a proxy's HTML page): the request may or may
#: not have reached Weibo. Retried, and the next attempt is "in doubt".
NO_ANSWER = ErrorRule(code=None, action=Action.RETRY, reason=_("微博没有回应。"))

#: 20032 "update success, while server slow now, please wait 1-2 minutes": posted, but no status
#: came back. Asked again later, Weibo answers 20019 "repeat content" if the post is there.
POSTED_SLOWLY = 20032


def classify(code: int | None) -> ErrorRule:
    """The rule for a Weibo error code; codes not in the table are decided by their class."""
    if not code:
        return NO_ANSWER
    if code == POSTED_SLOWLY:
        return ErrorRule(code=code, action=Action.RETRY, reason=_("微博正在处理，稍后确认。"),
                         in_doubt=True)  # fmt: skip
    known = _TABLE.get(code)
    if known is not None:
        action, reason, editable = known
        return ErrorRule(code=code, action=action, reason=reason, editable=editable)
    if 10000 <= code < 20000:
        return ErrorRule(code=code, action=Action.RETRY, reason=_BUSY)
    if 21300 <= code < 21400:
        return ErrorRule(code=code, action=Action.REAUTH, reason=_TOKEN)
    return ErrorRule(code=code, action=Action.FAIL, reason=_("微博拒绝了这个请求。"))


def reason_for(code: int | None) -> Promise | str:
    return classify(code).reason


def is_token_error(code: int | None) -> bool:
    return classify(code).action == Action.REAUTH


def table() -> list[ErrorRule]:
    """Every listed code, in order (for the documentation test and staff pages)."""
    return [classify(code) for code in sorted(_TABLE)]
