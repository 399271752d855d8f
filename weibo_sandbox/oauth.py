"""Weibo's OAuth2 endpoints: authorize (page and form), access_token, get_token_info, revoke."""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from . import pages
from .rules import redirect_uri_allowed
from .web import (
    TEXT_TYPE,
    Request,
    Response,
    Sandbox,
    api_error,
    dumps,
    html_response,
    json_response,
    redirect,
)

AUTHORIZE = "/oauth2/authorize"
ACCESS_TOKEN = "/oauth2/access_token"
TOKEN_INFO = "/oauth2/get_token_info"
REVOKE = "/oauth2/revokeoauth2"


def add_query(uri: str, pairs: list[tuple[str, str]]) -> str:
    """Append parameters after any query the callback already has, percent-encoding like Weibo."""
    parts = urlsplit(uri)
    extra = urlencode(pairs, quote_via=quote, safe="")
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _check_authorize_request(app: Sandbox, req: Request) -> Response | None:
    """Client first, then callback: Weibo never redirects to a callback it has not registered."""
    if req.param("client_id") != app.config.app_key:
        return api_error(AUTHORIZE, 400, 21324, "invalid_client", "client id is invalid")
    if not redirect_uri_allowed(req.param("redirect_uri"), app.config.redirect_uris):
        return api_error(
            AUTHORIZE, 400, 21322, "redirect_uri_mismatch", "redirect_uri 与应用回调地址不匹配"
        )
    response_type = req.param("response_type")
    if response_type not in (None, "", "code"):
        return api_error(
            AUTHORIZE, 400, 21329, "unsupported_response_type", "only response_type=code is open"
        )
    return None


def _authorize_page(app: Sandbox, req: Request, *, error: bool = False) -> Response:
    hidden = {
        name: req.param(name) or ""
        for name in ("client_id", "redirect_uri", "state", "scope", "display", "language")
    }
    html = pages.authorize_page(
        app_name=app.config.app_name,
        users=app.store.users_list(),
        hidden=hidden,
        base_url=req.base_url,
        language=req.param("language"),
        error=error,
    )
    return html_response(html, 400 if error else 200)


def authorize_get(app: Sandbox, req: Request) -> Response:
    return _check_authorize_request(app, req) or _authorize_page(app, req)


def authorize_post(app: Sandbox, req: Request) -> Response:
    problem = _check_authorize_request(app, req)
    if problem:
        return problem
    redirect_uri = req.param("redirect_uri") or ""
    state = req.param("state")
    action = req.param("action")
    if action == "deny":
        pairs = [
            ("error_uri", AUTHORIZE),
            ("error", "access_denied"),
            ("error_description", "user denied your request."),
            ("error_code", "21330"),
        ]
        if state:
            pairs.append(("state", state))
        response = redirect(add_query(redirect_uri, pairs))
        response.error_code = 21330
        return response
    uid = req.param("uid") or ""
    if action != "allow" or app.store.user_get(uid) is None:
        return _authorize_page(app, req, error=True)
    code = app.store.code_create(
        client_id=app.config.app_key,
        redirect_uri=redirect_uri,
        uid=uid,
        scope=req.param("scope") or "",
    )
    pairs = [("code", code)]
    if state:
        pairs.append(("state", state))
    return redirect(add_query(redirect_uri, pairs))


def access_token(app: Sandbox, req: Request) -> Response:
    if (
        req.param("client_id") != app.config.app_key
        or req.param("client_secret") != app.config.app_secret
    ):
        return api_error(
            ACCESS_TOKEN, 400, 21324, "invalid_client", "client id or secret is invalid"
        )
    if req.param("grant_type") != "authorization_code":
        return api_error(
            ACCESS_TOKEN, 400, 21328, "unsupported_grant_type", "grant_type is not supported"
        )
    code = req.param("code") or ""
    record = app.store.code_redeem(
        code=code, client_id=app.config.app_key, redirect_uri=req.param("redirect_uri") or ""
    )
    if record is None:
        return api_error(
            ACCESS_TOKEN, 400, 21325, "invalid_grant", f"invalid authorization code:{code}"
        )
    token = app.store.token_issue(
        uid=record["uid"], app_key=record["client_id"], scope=record["scope"]
    )
    expires_in = max(0, int(token["expires_at"]) - int(app.store.clock()))
    body = {
        "access_token": token["access_token"],
        "remind_in": str(expires_in),
        "expires_in": expires_in,
        "uid": token["uid"],
        "isRealName": "true",
    }
    if token["scope"]:
        body["scope"] = token["scope"]
    # Weibo labels this JSON as text/plain; clients must cope, so the sandbox does the same.
    return Response(status=200, body=dumps(body), content_type=TEXT_TYPE)


def get_token_info(app: Sandbox, req: Request) -> Response:
    state, record = app.store.token_lookup(req.param("access_token"))
    if record is None or state == "revoked":
        return api_error(TOKEN_INFO, 400, 21332, "invalid_access_token", "access token is invalid")
    return json_response(
        {
            "uid": int(record["uid"]),
            "appkey": record["app_key"],
            "scope": record["scope"],
            "create_at": record["created_at"],
            "expire_in": int(record["expires_at"]) - int(app.store.clock()),
        }
    )


def revoke(app: Sandbox, req: Request) -> Response:
    token = req.param("access_token")
    state, _ = app.store.token_lookup(token)
    if state in ("unknown", "revoked"):
        return api_error(REVOKE, 400, 21332, "invalid_access_token", "access token is invalid")
    app.store.tokens_revoke(access_token=token)
    return json_response({"result": "true"})
