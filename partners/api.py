"""The partner API, ``/api/partner/v1/`` (django-ninja; OpenAPI at ``openapi.json``).

Thin: every operation checks the signed caller (``PartnerAuth``), resolves the member's link,
calls one ``loyalty.services`` function, and answers JSON. Errors are always
``{"error": {"code": ..., "message": ...}}`` with a stable code (docs/partners.md lists them).
Writes run through ``idempotent``: the answer is stored under the partner's
``Idempotency-Key`` in the same transaction as the write.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Header, NinjaAPI, Path, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.responses import Status
from ninja.security import APIKeyHeader

from core import crypto
from core.errors import Busy, DomainError
from core.ratelimit import rate_limited
from loyalty import errors, services
from loyalty.models import (
    Partner,
    PartnerHold,
    PartnerLink,
    PartnerLinkRequest,
    PendingAward,
    PointsAccount,
    SharedField,
)
from members.models import Member
from partners import signing
from partners.models import PartnerKey, PartnerRequest

MAX_SKEW_SECONDS = 300
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
IDEMPOTENCY_PATTERN = r"^[A-Za-z0-9._:\-]{1,100}$"
MEMBER_ID_PATTERN = r"^m_[A-Za-z0-9_\-]{8,40}$"
MAX_ID = 2**53
MAX_POINTS = 1_000_000


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


# Domain errors of the services, by stable code → HTTP status (anything else: 422).
DOMAIN_STATUS = {
    errors.NotLinked.code: 403,
    errors.AccountSuspended.code: 403,
    errors.NotAMember.code: 403,
    errors.PartnerSuspended.code: 403,
    errors.InsufficientPoints.code: 409,
    errors.PartnerLimitExceeded.code: 409,
    errors.HoldStateConflict.code: 409,
    errors.HoldExpired.code: 409,
    errors.AccrualStateConflict.code: 409,
    errors.AlreadyLinked.code: 409,
    "not_found": 404,
    Busy.code: 503,
}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message)}}


def domain_error_answer(error: DomainError) -> tuple[int, dict[str, Any]]:
    return DOMAIN_STATUS.get(error.code, 422), error_body(error.code, error.message)


# --- Authentication -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    partner: Partner
    key: PartnerKey


def _header(request: HttpRequest, name: str) -> str:
    return request.headers.get(name, "") or ""


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _carries_nul(body: bytes) -> bool:
    """A NUL anywhere in the JSON body: PostgreSQL text cannot hold one, so it is refused up
    front as invalid input rather than failing at the database."""
    if b"\x00" in body:
        return True
    if b"\\u0000" not in body:
        return False
    try:
        return _holds_nul(json.loads(body))
    except ValueError:
        return False


class PartnerAuth(APIKeyHeader):
    """HMAC-signed requests: key, timestamp within 300 s, fresh nonce, valid signature; then
    the partner must be active and within its rate limit."""

    param_name = signing.HEADER_KEY

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller:
        timestamp = _header(request, signing.HEADER_TIMESTAMP)
        nonce = _header(request, signing.HEADER_NONCE)
        given = _header(request, signing.HEADER_SIGNATURE)
        if not (key and timestamp and nonce and given):
            raise ApiError(401, "missing_signature", "X-Partner-Key, X-Timestamp, X-Nonce and "
                           "X-Signature are required.")  # fmt: skip
        found = PartnerKey.objects.select_related("partner").filter(key_id=key[:40]).first()
        if found is None:
            raise ApiError(401, "unknown_key", "No such key.")
        now = timezone.now()
        if found.revoked_at is not None:
            raise ApiError(401, "key_revoked", "This key was revoked.")
        if found.expires_at is not None and found.expires_at <= now:
            raise ApiError(401, "key_expired", "This key was rotated and has expired.")
        try:
            stamp = int(timestamp)
        except ValueError:
            raise ApiError(401, "timestamp_skew", "X-Timestamp must be Unix seconds.") from None
        if abs(now.timestamp() - stamp) > MAX_SKEW_SECONDS:
            raise ApiError(401, "timestamp_skew", "X-Timestamp is more than 300 s off.")
        if not NONCE_PATTERN.match(nonce):
            raise ApiError(401, "invalid_nonce", "X-Nonce must be 8-64 characters [A-Za-z0-9_-].")
        secret = crypto.decrypt(found.secret_encrypted)
        expected = signing.signature(
            secret or "", method=request.method or "", path=request.path,
            query=request.META.get("QUERY_STRING", ""), timestamp=timestamp, nonce=nonce,
            body=request.body,
        )  # fmt: skip
        if secret is None or not signing.matches(expected, given):
            raise ApiError(401, "invalid_signature", "The signature does not match the request.")
        # The nonce is spent only by a correctly signed request (SET NX with a TTL past the
        # skew window: a replay inside the window finds it, one outside fails the skew check).
        if not cache.add(f"partner-nonce:{found.key_id}:{nonce}", 1, 2 * MAX_SKEW_SECONDS + 5):
            raise ApiError(401, "nonce_reused", "This nonce was already used.")
        if not found.partner.is_active:
            raise ApiError(403, "partner_suspended", str(errors.PartnerSuspended.default_message))
        limit = settings.PARTNER_API_RATE_LIMIT
        if rate_limited(request, "partner-api", limit=limit, window=60, key=str(found.partner_id)):
            raise ApiError(429, "rate_limited", f"More than {limit} requests a minute.",
                           headers={"Retry-After": "60"})  # fmt: skip
        if _carries_nul(request.body):
            raise ApiError(422, "validation_error", "Text may not contain NUL (U+0000).")
        if found.last_used_at is None or found.last_used_at < now - timedelta(minutes=1):
            PartnerKey.objects.filter(pk=found.pk).update(last_used_at=now)
        return Caller(found.partner, found)


api = NinjaAPI(
    title="Partner API",
    version="1",
    description="Coalition partners earn and burn the club's points. Every request is signed "
    "with HMAC-SHA256 (docs/partners.md); every write takes an Idempotency-Key.",
    urls_namespace="partner_api",
    docs_url=None,
    auth=PartnerAuth(),
)


def _respond(request: HttpRequest, status: int, body: dict, headers: dict | None = None):
    response = api.create_response(request, body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _respond(request, exc.status, error_body(exc.code, exc.message), exc.headers)


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    status, body = domain_error_answer(exc)
    return _respond(request, status, body, {"Retry-After": "1"} if status == 503 else None)


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors)
    return _respond(request, 422, error_body("validation_error", f"Invalid input: {fields}"))


@api.exception_handler(AuthenticationError)
def _auth_error(request, exc):
    return _respond(request, 401, error_body("missing_signature", "Signed headers required."))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return _respond(request, exc.status_code, error_body("bad_request", str(exc)))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _respond(request, 404, error_body("not_found", "No such resource."))


# --- Schemas ------------------------------------------------------------------------------------


class ErrorDetail(Schema):
    code: str
    message: str


class ErrorOut(Schema):
    error: ErrorDetail


ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429, 503)}


class LinkRequestIn(Schema):
    partner_reference: str = Field("", max_length=100, description="Your own customer id.")


class LinkRequestOut(Schema):
    request_id: int
    state: str = Field(..., description="pending or confirmed")
    code: str | None = Field(None, description="Shown once, when created: show it to the customer.")
    link_url: str | None = Field(None, description="Or redirect the customer here.")
    expires_at: datetime
    member_id: str | None = Field(None, description="Once confirmed: the member's id for you.")


class MemberOut(Schema):
    member_id: str
    partner_reference: str
    linked_at: datetime
    display_name: str | None = Field(None, description="Only if the member's consent names it.")
    tier: str | None = Field(None, description="Only if the member's consent names it.")
    balance: int | None = Field(None, description="Only if the member's consent names it.")


class PointsIn(Schema):
    amount: int = Field(..., ge=1, le=MAX_POINTS)
    reference: str = Field("", max_length=100, description="Your order or booking number.")


class AccrualOut(Schema):
    accrual_id: int
    member_id: str
    amount: int
    state: str = Field(..., description="pending, approved or cancelled")
    release_at: datetime
    created_at: datetime


class HoldOut(Schema):
    hold_id: int
    member_id: str
    amount: int
    reference: str
    state: str = Field(..., description="held, captured, voided, expired or refunded")
    expires_at: datetime
    captured_at: datetime | None
    closed_at: datetime | None
    created_at: datetime


def _accrual(award: PendingAward, member_id: str) -> dict[str, Any]:
    return {
        "accrual_id": award.pk, "member_id": member_id, "amount": award.amount,
        "state": award.state, "release_at": award.release_at, "created_at": award.created_at,
    }  # fmt: skip


def _hold(hold: PartnerHold) -> dict[str, Any]:
    return {
        "hold_id": hold.pk, "member_id": hold.link.public_id, "amount": hold.amount,
        "reference": hold.reference, "state": hold.state, "expires_at": hold.expires_at,
        "captured_at": hold.captured_at, "closed_at": hold.closed_at,
        "created_at": hold.created_at,
    }  # fmt: skip


# --- Idempotency --------------------------------------------------------------------------------


def idempotent(
    request: HttpRequest, key: str, action: Callable[[], tuple[int, dict[str, Any]]]
) -> tuple[int, dict[str, Any]]:
    """Run a write once per ``(partner, Idempotency-Key)``, storing its answer with it.

    The key row is inserted first in the same transaction, so a concurrent request with the same
    key waits on the unique index and then reads the committed answer. A domain error is an
    answer too (stored); a lock timeout is not (the client may retry the same key).
    """
    partner = request.auth.partner
    digest = hashlib.sha256(
        b"\n".join([
            (request.method or "").encode(), request.path.encode(),
            request.META.get("QUERY_STRING", "").encode(), request.body,
        ])
    ).hexdigest()  # fmt: skip
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = PartnerRequest.objects.create(
                    partner=partner, idempotency_key=key, method=request.method or "",
                    path=request.path[:300], request_sha256=digest, status=0, response={},
                )  # fmt: skip
        except IntegrityError:
            record = PartnerRequest.objects.get(partner=partner, idempotency_key=key)
            if record.request_sha256 != digest:
                raise ApiError(
                    409, "idempotency_conflict",
                    "This Idempotency-Key was used for a different request.",
                ) from None  # fmt: skip
            return record.status, record.response
        try:
            status, body = action()
        except Busy:
            raise
        except DomainError as error:
            status, body = domain_error_answer(error)
        record.status, record.response = status, body
        record.save(update_fields=["status", "response"])
    return status, body


def _jsonable(body: dict[str, Any]) -> dict[str, Any]:
    """The answer as stored (datetimes as ISO strings), so a replay answers the same bytes."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in body.items()}


# --- Links and members --------------------------------------------------------------------------


def _live_link(request: HttpRequest, member_id: str) -> PartnerLink:
    link = (
        PartnerLink.objects.select_related("member", "member__tier")
        .filter(partner=request.auth.partner, public_id=member_id)
        .first()
    )
    if link is None:
        raise ApiError(404, "not_found", "No member with this id is linked to you.")
    if link.state != PartnerLink.State.LINKED:
        raise errors.NotLinked
    if link.member.state == Member.State.SUSPENDED:
        raise errors.AccountSuspended
    if link.member.state != Member.State.MEMBER:
        raise errors.NotAMember
    return link


@api.post(
    "/link-requests", response={201: LinkRequestOut, **ERRORS}, tags=["links"],
    summary="Start linking a customer: a one-time code to show them",
)  # fmt: skip
def create_link_request(
    request,
    payload: LinkRequestIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN),
):
    def action():
        link_request, code = services.partner_link_request_create(
            partner=request.auth.partner, partner_reference=payload.partner_reference
        )
        link_url = f"{settings.SITE_URL}/members/me/partners/link/?{urlencode({'code': code})}"
        return 201, _jsonable({
            "request_id": link_request.pk, "state": link_request.state, "code": code,
            "link_url": link_url, "expires_at": link_request.expires_at, "member_id": None,
        })  # fmt: skip

    return Status(*idempotent(request, idempotency_key, action))


@api.get(
    "/link-requests/{request_id}", response={200: LinkRequestOut, **ERRORS}, tags=["links"],
    summary="Whether the customer confirmed the code, and their member id",
)  # fmt: skip
def get_link_request(request, request_id: int = Path(..., ge=1, le=MAX_ID)):
    found = (
        PartnerLinkRequest.objects.select_related("link")
        .filter(pk=request_id, partner=request.auth.partner)
        .first()
    )
    if found is None:
        raise ApiError(404, "not_found", "No such link request.")
    return Status(200, {
        "request_id": found.pk, "state": found.state, "code": None, "link_url": None,
        "expires_at": found.expires_at,
        "member_id": found.link.public_id if found.link_id else None,
    })  # fmt: skip


@api.get(
    "/members/{member_id}", response={200: MemberOut, **ERRORS}, tags=["members"],
    summary="A linked member: only what their consent names",
)  # fmt: skip
def get_member(request, member_id: str = Path(..., pattern=MEMBER_ID_PATTERN)):
    link = _live_link(request, member_id)
    shared = set(link.shared_fields)
    member = link.member
    body: dict[str, Any] = {
        "member_id": link.public_id, "partner_reference": link.partner_reference,
        "linked_at": link.linked_at, "display_name": None, "tier": None, "balance": None,
    }  # fmt: skip
    if SharedField.DISPLAY_NAME in shared:
        body["display_name"] = member.display_name
    if SharedField.TIER in shared:
        body["tier"] = member.tier.name if member.tier else None
    if SharedField.BALANCE in shared:
        body["balance"] = (
            PointsAccount.objects.filter(member=member).values_list("balance", flat=True).first()
            or 0
        )
    return Status(200, body)


# --- Accruals -----------------------------------------------------------------------------------


@api.post(
    "/members/{member_id}/accruals", response={201: AccrualOut, **ERRORS}, tags=["accruals"],
    summary="Issue points to a member (pending until confirmed or the delay passes)",
)  # fmt: skip
def create_accrual(
    request,
    payload: PointsIn,
    member_id: str = Path(..., pattern=MEMBER_ID_PATTERN),
    idempotency_key: str = Header(..., alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN),
):
    def action():
        link = _live_link(request, member_id)
        result = services.partner_accrue(
            partner=request.auth.partner, link=link, amount=payload.amount,
            idempotency_key=idempotency_key, reference=payload.reference,
        )  # fmt: skip
        return 201, _jsonable(_accrual(result.award, link.public_id))

    return Status(*idempotent(request, idempotency_key, action))


def _accrual_action(request, accrual_id: int, key: str, service: Callable[..., PendingAward]):
    def action():
        award = service(partner=request.auth.partner, award_id=accrual_id)
        links = PartnerLink.objects.filter(
            partner=request.auth.partner, member__points_account=award.account_id
        )
        member_id = links.order_by("-linked_at").values_list("public_id", flat=True).first()
        return 200, _jsonable(_accrual(award, member_id or ""))

    return Status(*idempotent(request, key, action))


@api.post(
    "/accruals/{accrual_id}/confirm", response={200: AccrualOut, **ERRORS}, tags=["accruals"],
    summary="Confirm a pending accrual: the points become usable now",
)  # fmt: skip
def confirm_accrual(
    request,
    accrual_id: int = Path(..., ge=1, le=MAX_ID),
    idempotency_key: str = Header(..., alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN),
):
    return _accrual_action(request, accrual_id, idempotency_key, services.partner_accrual_confirm)


@api.post(
    "/accruals/{accrual_id}/cancel", response={200: AccrualOut, **ERRORS}, tags=["accruals"],
    summary="Withdraw a pending accrual (the order was returned)",
)  # fmt: skip
def cancel_accrual(
    request,
    accrual_id: int = Path(..., ge=1, le=MAX_ID),
    idempotency_key: str = Header(..., alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN),
):
    return _accrual_action(request, accrual_id, idempotency_key, services.partner_accrual_cancel)


# --- Holds --------------------------------------------------------------------------------------


@api.post(
    "/members/{member_id}/holds", response={201: HoldOut, **ERRORS}, tags=["holds"],
    summary="Reserve a member's points for a purchase (capture or void it; it expires alone)",
)  # fmt: skip
def create_hold(
    request,
    payload: PointsIn,
    member_id: str = Path(..., pattern=MEMBER_ID_PATTERN),
    idempotency_key: str = Header(..., alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN),
):
    def action():
        link = _live_link(request, member_id)
        result = services.partner_hold(
            partner=request.auth.partner, link=link, amount=payload.amount,
            idempotency_key=idempotency_key, reference=payload.reference,
        )  # fmt: skip
        return 201, _jsonable(_hold(result.hold))

    return Status(*idempotent(request, idempotency_key, action))


@api.get("/holds/{hold_id}", response={200: HoldOut, **ERRORS}, tags=["holds"], summary="A hold")
def get_hold(request, hold_id: int = Path(..., ge=1, le=MAX_ID)):
    hold = (
        PartnerHold.objects.select_related("link")
        .filter(pk=hold_id, partner=request.auth.partner)
        .first()
    )
    if hold is None:
        raise ApiError(404, "not_found", "No such hold.")
    return Status(200, _hold(hold))


def _hold_action(request, hold_id: int, key: str, service: Callable[..., PartnerHold]):
    def action():
        hold = service(partner=request.auth.partner, hold_id=hold_id)
        return 200, _jsonable(_hold(hold))

    return Status(*idempotent(request, key, action))


@api.post(
    "/holds/{hold_id}/capture", response={200: HoldOut, **ERRORS}, tags=["holds"],
    summary="Spend the held points (the purchase went through)",
)  # fmt: skip
def capture_hold(
    request,
    hold_id: int = Path(..., ge=1, le=MAX_ID),
    idempotency_key: str = Header(..., alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN),
):
    return _hold_action(request, hold_id, idempotency_key, services.partner_hold_capture)


@api.post(
    "/holds/{hold_id}/void", response={200: HoldOut, **ERRORS}, tags=["holds"],
    summary="Give the held points back (the purchase did not happen)",
)  # fmt: skip
def void_hold(
    request,
    hold_id: int = Path(..., ge=1, le=MAX_ID),
    idempotency_key: str = Header(..., alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN),
):
    return _hold_action(request, hold_id, idempotency_key, services.partner_hold_void)


@api.post(
    "/holds/{hold_id}/refund", response={200: HoldOut, **ERRORS}, tags=["holds"],
    summary="Refund a captured hold in full (the purchase was returned)",
)  # fmt: skip
def refund_hold(
    request,
    hold_id: int = Path(..., ge=1, le=MAX_ID),
    idempotency_key: str = Header(..., alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN),
):
    return _hold_action(request, hold_id, idempotency_key, services.partner_hold_refund)
