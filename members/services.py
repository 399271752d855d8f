"""Business actions on members: login sync, consent, admission, suspension, leaving.

Each public function is one transaction. Decisions that affect a member write an
``AdmissionDecision`` and an audit entry in the same transaction; calls to Weibo and real-time
events happen after commit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import crypto
from core.audit import audit_forget_person, audit_record
from core.errors import DomainError
from core.events import close_sockets_on_commit, publish_on_commit, user_group
from core.locking import Lock, lock_one, lock_rows
from core.models import Notification
from core.notifications import notify, notify_staff, written_for
from members import hooks, selectors
from members.handles import normalise_handle
from members.models import (
    AdmissionDecision,
    AdmissionSettings,
    Application,
    Consent,
    ConsentText,
    CustomerImport,
    CustomerRecord,
    InvitationCode,
    InvitationUse,
    Member,
    Tier,
)
from members.weibo import client as weibo

User = get_user_model()
log = logging.getLogger(__name__)

# Invitation codes: 12 characters from an alphabet without look-alikes (0/O, 1/I/L):
# 31^12 ≈ 7.9e17 possibilities, far beyond guessing under the rate limit.
INVITATION_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITATION_LENGTH = 12


class InvitationInvalid(DomainError):
    code = "invitation_invalid"
    default_message = gettext_lazy("邀请码无效、已过期或已被用完。")


class MembershipNumberInvalid(DomainError):
    code = "membership_number_invalid"
    default_message = gettext_lazy("没有找到这个会员卡号，或它已绑定其他账户。")


class AdmissionRouteClosed(DomainError):
    code = "admission_route_closed"
    default_message = gettext_lazy("俱乐部目前不接受这种入会方式。")


class AlreadyDecided(DomainError):
    code = "already_decided"
    default_message = gettext_lazy("这位申请人已经处理过了。")


class InviteLimitReached(DomainError):
    code = "invite_limit_reached"
    default_message = gettext_lazy("本月的邀请名额已用完。")


class NotAMember(DomainError):
    code = "not_a_member"
    default_message = gettext_lazy("只有正式会员才能进行此操作。")


# --- Weibo profile ------------------------------------------------------------------------------


def _lock_member(pk: int, *related: str) -> Member:
    """The member row, locked first in the order of ``core.locking``; their application and an
    invitation code or membership number (codes) may follow."""
    member = lock_one(Lock.MEMBER, Member.objects.select_related(*related).filter(pk=pk))
    if member is None:
        raise Member.DoesNotExist
    return member


def parse_weibo_time(value: Any) -> datetime | None:
    """Weibo's ``Fri Aug 28 00:00:00 +0800 2009`` as an aware datetime; None for anything else."""
    if not isinstance(value, str) or not value.strip():
        return None
    parts = value.split()
    if len(parts) == 6:
        # RFC 2822 order: "Fri, 28 Aug 2009 00:00:00 +0800"
        value = f"{parts[0]}, {parts[2]} {parts[1]} {parts[5]} {parts[3]} {parts[4]}"
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None


# users/show is Weibo's answer, not ours: every field is read defensively, whatever JSON type
# arrives (a string for a number, null, a float, a list...), so an odd profile never breaks a
# login. Counts are clamped to what the columns hold.
_COUNT_MAX = 2**31 - 1
#: Weibo's verified_type: -1 not verified, 0 a verified person, 1-7 organisations, 200/220
#: experts, 400 and more... kept as sent; a value that is not a whole number (or does not fit a
#: small integer) is stored as -1, Weibo's "no verification" (``weibo_verified`` keeps the flag).
VERIFIED_TYPE_UNKNOWN = -1


def _whole_number(value: Any) -> int | None:
    """An integer from Weibo's int, integral float or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit() and text.isascii() and len(text) <= 20:
            return int(text)
    return None


def _int(value: Any) -> int:
    number = _whole_number(value)
    return min(max(0, number), _COUNT_MAX) if number is not None else 0


def _text(value: Any, length: int) -> str:
    """A string field: text as sent (numbers written out), anything else empty; no NUL
    characters (PostgreSQL cannot store them)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).replace("\x00", "")[:length]


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return value is True or (isinstance(value, int | float) and value == 1)


def weibo_verified_type(value: Any) -> int:
    number = _whole_number(value)
    if number is None or not -32768 <= number <= 32767:
        return VERIFIED_TYPE_UNKNOWN
    return number


def weibo_profile_fields(profile: dict[str, Any]) -> dict[str, Any]:
    """The member fields we keep from a ``users/show`` answer."""
    avatar = _text(profile.get("avatar_large"), 500) or _text(profile.get("profile_image_url"), 500)
    gender = _text(profile.get("gender"), 1)
    return {
        "weibo_screen_name": _text(profile.get("screen_name"), 100),
        "weibo_avatar_url": avatar,
        "weibo_location": _text(profile.get("location"), 100),
        "weibo_gender": gender if gender in ("m", "f", "n") else "",
        "weibo_followers": _int(profile.get("followers_count")),
        "weibo_friends": _int(profile.get("friends_count")),
        "weibo_statuses": _int(profile.get("statuses_count")),
        "weibo_verified": _flag(profile.get("verified")),
        "weibo_verified_type": weibo_verified_type(profile.get("verified_type")),
        "weibo_verified_reason": _text(profile.get("verified_reason"), 200),
        "weibo_default_avatar": "default" in avatar,
        "weibo_created_at": parse_weibo_time(profile.get("created_at")),
    }


def zombie_reasons(fields: dict[str, Any], now: datetime | None = None) -> list[str]:
    """Signals that a Weibo account is a bought or bot account; two or more flag it."""
    now = now or timezone.now()
    reasons = []
    if fields["weibo_followers"] < 20:
        reasons.append("few_followers")
    if fields["weibo_friends"] > 500 and fields["weibo_friends"] > 20 * max(
        fields["weibo_followers"], 1
    ):
        reasons.append("follows_many")
    if fields["weibo_statuses"] < 5:
        reasons.append("almost_no_statuses")
    if fields["weibo_default_avatar"]:
        reasons.append("default_avatar")
    created = fields.get("weibo_created_at")
    if created and now - created < timedelta(days=90):
        reasons.append("new_account")
    return reasons if len(reasons) >= 2 else []


@dataclass
class WeiboLogin:
    """What one Weibo login brought: the profile and a fresh access token."""

    uid: str
    profile: dict[str, Any]
    access_token: str
    expires_in: int | None

    def to_session(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "profile": self.profile,
            "token": crypto.encrypt(self.access_token),
            "expires_in": self.expires_in,
        }

    @classmethod
    def from_session(cls, data: dict[str, Any] | None) -> WeiboLogin | None:
        if not data:
            return None
        token = crypto.decrypt(data.get("token", ""))
        if not token:
            return None
        return cls(data["uid"], data.get("profile") or {}, token, data.get("expires_in"))


def _take_handle(member: Member, screen_name: str) -> None:
    """Give the member the handle of the screen name Weibo just reported.

    Weibo keeps screen names unique, so another member holding the same handle has a stale
    copy (they renamed themselves on Weibo and have not signed in since): the latest refresh
    wins and theirs is cleared, to come back with their new name at their next login
    (``members.handles``). Precondition: the caller holds this member's row lock; the other
    row is updated (and so locked) after it, which only two members swapping names while
    signing in at the same moment could make wait on each other.
    """
    handle = normalise_handle(screen_name)
    if handle and handle != member.mention_handle:
        holders = Member.objects.filter(mention_handle=handle)
        if member.pk is not None:
            holders = holders.exclude(pk=member.pk)
        holders.update(mention_handle=None)
    member.mention_handle = handle


def _apply_login(member: Member, login: WeiboLogin) -> list[str]:
    fields = weibo_profile_fields(login.profile)
    for name, value in fields.items():
        setattr(member, name, value)
    member.weibo_uid = login.uid
    _take_handle(member, fields["weibo_screen_name"])
    if not member.display_name:
        member.display_name = fields["weibo_screen_name"][:100]
    member.weibo_refreshed_at = timezone.now()
    reasons = zombie_reasons(fields)
    member.zombie_suspected = bool(reasons)
    member.zombie_reasons = reasons
    member.weibo_token_encrypted = crypto.encrypt(login.access_token)
    member.weibo_token_expires_at = (
        timezone.now() + timedelta(seconds=int(login.expires_in)) if login.expires_in else None
    )
    member.weibo_token_state = Member.TokenState.VALID
    member.last_seen_at = timezone.now()
    return [
        *fields,
        "weibo_uid",
        "mention_handle",
        "display_name",
        "weibo_refreshed_at",
        "zombie_suspected",
        "zombie_reasons",
        "weibo_token_encrypted",
        "weibo_token_expires_at",
        "weibo_token_state",
        "last_seen_at",
    ]


def member_refresh_from_login(*, member: Member, login: WeiboLogin) -> Member:
    """A returning member's login: refresh the Weibo profile and renew the token."""
    with transaction.atomic():
        member = _lock_member(member.pk)
        member.save(update_fields=_apply_login(member, login))
    return member


# --- Consent ------------------------------------------------------------------------------------


def consent_accept(*, user, text: ConsentText, login: WeiboLogin | None, ip: str | None) -> Member:
    """Record consent; the first acceptance creates the member record from the Weibo login.

    Nothing from Weibo beyond the account id is stored before this point.
    """
    with transaction.atomic():
        member = lock_one(Lock.MEMBER, Member.objects.filter(user=user))
        if member is None:
            if login is None:
                raise DomainError(_("登录信息已过期，请重新用微博登录。"))
            member = Member(user=user, state=Member.State.APPLICANT)
            _apply_login(member, login)
            member.save()
            audit_record(
                action="member.created",
                target=member,
                rule="weibo_login",
                after={"state": member.state, "weibo_uid": member.weibo_uid},
                ip=ip,
            )
        elif login is not None:
            member.save(update_fields=_apply_login(member, login))
        Consent.objects.get_or_create(member=member, text=text, defaults={"ip": ip})
    if member.state == Member.State.APPLICANT:
        admission_try_criteria(member=member)
        member.refresh_from_db()
    return member


# --- Admission ----------------------------------------------------------------------------------


def _default_tier(settings_: AdmissionSettings) -> Tier | None:
    return settings_.default_tier or Tier.objects.order_by("rank").first()


def _admit(
    *,
    member: Member,
    route: str,
    reason: str,
    actor=None,
    tier: Tier | None = None,
    ip: str | None = None,
) -> Member:
    """Admit a locked applicant. Precondition: caller holds the member row lock."""
    before = {"state": member.state, "tier": member.tier.code if member.tier else None}
    member.state = Member.State.MEMBER
    member.joined_at = member.joined_at or timezone.now()
    member.tier = tier or member.tier or _default_tier(AdmissionSettings.load())
    member.state_reason = reason
    member.save(update_fields=["state", "joined_at", "tier", "state_reason"])
    AdmissionDecision.objects.create(
        member=member,
        outcome=AdmissionDecision.Outcome.ADMITTED,
        route=route,
        reason=reason,
        actor=actor if getattr(actor, "pk", None) else None,
    )
    Application.objects.filter(member=member, state=Application.State.PENDING).update(
        state=Application.State.APPROVED, decided_at=timezone.now()
    )
    audit_record(
        action="member.admitted",
        actor=actor,
        target=member,
        rule=f"admission.{route}",
        before=before,
        after={"state": member.state, "tier": member.tier.code if member.tier else None},
        reason=reason,
        ip=ip,
    )
    notify(
        user_id=member.user_id,
        kind=Notification.Kind.ADMISSION,
        title=_("欢迎加入俱乐部！"),
        body=_("您已成为正式会员，会员内容现已向您开放。"),
        link="/community/",
    )
    notify_staff(counter="joins")
    return member


def criteria_shortfall(member: Member, settings_: AdmissionSettings) -> list[str]:
    """What the applicant lacks for automatic admission, in words they can act on."""
    missing = []
    if member.weibo_followers < settings_.min_followers:
        missing.append(
            _("微博粉丝数需达到 %(need)s（当前 %(have)s）")
            % {"need": settings_.min_followers, "have": member.weibo_followers}
        )
    if settings_.require_verified and not member.weibo_verified:
        missing.append(_("需要微博认证"))
    created = member.weibo_created_at
    age_days = (timezone.now() - created).days if created else 0
    if age_days < settings_.min_account_age_days:
        missing.append(
            _("微博注册需满 %(need)s 天（当前 %(have)s 天）")
            % {"need": settings_.min_account_age_days, "have": age_days}
        )
    if member.zombie_suspected:
        missing.append(_("账户活跃度不足"))
    return missing


def admission_try_criteria(*, member: Member) -> bool:
    """Admit automatically when the Weibo criteria hold and staff enabled that route."""
    settings_ = AdmissionSettings.load()
    if not settings_.criteria_enabled:
        return False
    with transaction.atomic():
        member = _lock_member(member.pk)
        if member.state != Member.State.APPLICANT or criteria_shortfall(member, settings_):
            return False
        _admit(
            member=member,
            route=AdmissionDecision.Route.CRITERIA,
            reason=_("满足微博条件：粉丝 %(f)s") % {"f": member.weibo_followers},
        )
    return True


def generate_invitation_code() -> str:
    return "".join(secrets.choice(INVITATION_ALPHABET) for _ in range(INVITATION_LENGTH))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def invitation_redeem(*, member: Member, code: str, ip: str | None = None) -> Member:
    if not AdmissionSettings.load().invitations_enabled:
        raise AdmissionRouteClosed
    with transaction.atomic():
        member = _lock_member(member.pk)
        if member.state != Member.State.APPLICANT:
            raise AlreadyDecided(_("您已经是会员，无需再使用邀请码。"))
        invitation = lock_one(Lock.CODES, InvitationCode.objects.filter(code=normalise_code(code)))
        now = timezone.now()
        if (
            invitation is None
            or invitation.revoked_at is not None
            or (invitation.expires_at and invitation.expires_at <= now)
            or invitation.uses >= invitation.max_uses
            or (invitation.inviter_id and invitation.inviter_id == member.pk)
        ):
            raise InvitationInvalid
        InvitationCode.objects.filter(pk=invitation.pk).update(uses=F("uses") + 1)
        InvitationUse.objects.create(code=invitation, member=member)
        if invitation.inviter_id:
            member.invited_by_id = invitation.inviter_id
            member.save(update_fields=["invited_by"])
        _admit(
            member=member,
            route=AdmissionDecision.Route.INVITATION,
            reason=_("邀请码 %(code)s") % {"code": invitation.code},
            ip=ip,
        )
    return member


def membership_number_verify(*, member: Member, number: str, ip: str | None = None) -> Member:
    if not AdmissionSettings.load().membership_number_enabled:
        raise AdmissionRouteClosed
    number = number.strip().upper()
    with transaction.atomic():
        member = _lock_member(member.pk)
        if member.state != Member.State.APPLICANT:
            raise AlreadyDecided(_("您已经是会员。"))
        record = lock_one(Lock.CODES, CustomerRecord.objects.filter(membership_number=number))
        if record is None or (record.claimed_by_id and record.claimed_by_id != member.pk):
            raise MembershipNumberInvalid
        record.claimed_by = member
        record.save(update_fields=["claimed_by"])
        member.membership_number = record.membership_number
        member.save(update_fields=["membership_number"])
        _admit(
            member=member,
            route=AdmissionDecision.Route.MEMBERSHIP_NUMBER,
            reason=_("会员卡号 %(n)s") % {"n": number},
            tier=record.tier,
            ip=ip,
        )
    return member


def application_submit(*, member: Member, message: str) -> Application:
    if not AdmissionSettings.load().approval_enabled:
        raise AdmissionRouteClosed
    message = message.strip()
    if not message:
        raise DomainError(_("请写几句话介绍您自己。"))
    if len(message) > 500:
        raise DomainError(_("申请说明不能超过 500 字。"))
    with transaction.atomic():
        member = _lock_member(member.pk)
        if member.state != Member.State.APPLICANT:
            raise AlreadyDecided(_("您已经是会员。"))
        application, created = Application.objects.get_or_create(
            member=member, defaults={"message": message}
        )
        if not created:
            if application.state != Application.State.PENDING:
                raise AlreadyDecided(_("您的申请已经处理过了。"))
            application.message = message
            application.save(update_fields=["message"])
    return application


def application_decide(
    *, application: Application, approve: bool, actor, reason: str, ip: str | None = None
) -> Application:
    if not reason.strip():
        raise DomainError(_("请填写处理原因。"))
    with transaction.atomic():
        member = _lock_member(application.member_id)
        (application,) = lock_rows((Lock.MEMBER, Application.objects.filter(pk=application.pk)))[0]
        if application.state != Application.State.PENDING:
            raise AlreadyDecided
        if approve:
            _admit(
                member=member,
                route=AdmissionDecision.Route.APPROVAL,
                reason=reason,
                actor=actor,
                ip=ip,
            )
        else:
            application.state = Application.State.REJECTED
            application.decided_at = timezone.now()
            application.save(update_fields=["state", "decided_at"])
            AdmissionDecision.objects.create(
                member=member,
                outcome=AdmissionDecision.Outcome.REJECTED,
                route=AdmissionDecision.Route.APPROVAL,
                reason=reason,
                actor=actor,
            )
            audit_record(
                action="member.application_rejected",
                actor=actor,
                target=member,
                reason=reason,
                ip=ip,
            )
            notify(
                user_id=member.user_id,
                kind=Notification.Kind.ADMISSION,
                title=_("很抱歉，您的入会申请未通过。"),
                body=reason,
                link="/members/join/",
            )
        application.refresh_from_db()
    return application


def invitation_batch_create(
    *, actor, count: int, max_uses: int = 1, expires_at: datetime | None = None, batch: str = ""
) -> list[InvitationCode]:
    if not 1 <= count <= 1000:
        raise DomainError(_("一次可生成 1 到 1000 个邀请码。"))
    with transaction.atomic():
        codes = []
        while len(codes) < count:
            try:
                with transaction.atomic():
                    codes.append(
                        InvitationCode.objects.create(
                            code=generate_invitation_code(),
                            batch=batch,
                            created_by=actor,
                            max_uses=max_uses,
                            expires_at=expires_at,
                        )
                    )
            except IntegrityError:  # a collision: astronomically rare, just draw again
                continue
        audit_record(
            action="invitations.created",
            actor=actor,
            target=batch or "invitations",
            after={
                "count": count,
                "max_uses": max_uses,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return codes


def member_invitation_create(*, member: Member) -> InvitationCode:
    """A member invites a friend: one single-use code, within the monthly allowance."""
    settings_ = AdmissionSettings.load()
    with transaction.atomic():
        member = _lock_member(member.pk)
        if member.state != Member.State.MEMBER:
            raise NotAMember
        month_start = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        issued = InvitationCode.objects.filter(inviter=member, created_at__gte=month_start).count()
        if issued >= settings_.invites_per_member_per_month:
            raise InviteLimitReached
        return InvitationCode.objects.create(
            code=generate_invitation_code(),
            inviter=member,
            max_uses=1,
            expires_at=timezone.now() + timedelta(days=30),
            batch="member-invite",
        )


# --- Suspension, token, leaving -------------------------------------------------------------------


def _end_sessions(user) -> None:
    """Invalidate every session of the user at once.

    Django ties each session to a hash of the password; rotating the (unusable) password makes
    every existing session fail that check on its next request or websocket connect.
    """
    user.set_unusable_password()
    user.save(update_fields=["password"])
    publish_on_commit(user_group(user.pk), {"kind": "session_ended"})
    close_sockets_on_commit(user.pk)


def member_suspend(*, member: Member, actor, reason: str, ip: str | None = None) -> Member:
    if not reason.strip():
        raise DomainError(_("请填写暂停原因。"))
    with transaction.atomic():
        member = _lock_member(member.pk, "user")
        if member.state != Member.State.MEMBER:
            # Only admitted members are suspended; reinstating must never admit an applicant.
            raise DomainError(_("只能暂停正式会员。"))
        before = {"state": member.state}
        member.state = Member.State.SUSPENDED
        member.state_reason = reason
        member.save(update_fields=["state", "state_reason"])
        _end_sessions(member.user)
        audit_record(
            action="member.suspended",
            actor=actor,
            target=member,
            before=before,
            after={"state": member.state},
            reason=reason,
            ip=ip,
        )
    return member


def member_reinstate(*, member: Member, actor, reason: str, ip: str | None = None) -> Member:
    if not reason.strip():
        raise DomainError(_("请填写恢复原因。"))
    with transaction.atomic():
        member = _lock_member(member.pk)
        if member.state != Member.State.SUSPENDED:
            raise DomainError(_("该会员没有被暂停。"))
        member.state = Member.State.MEMBER
        member.state_reason = reason
        member.save(update_fields=["state", "state_reason"])
        audit_record(
            action="member.reinstated",
            actor=actor,
            target=member,
            before={"state": "suspended"},
            after={"state": member.state},
            reason=reason,
            ip=ip,
        )
    return member


def member_token(member: Member) -> str | None:
    """The member's Weibo token when usable; None means: ask them to re-authorise."""
    if member.weibo_token_state != Member.TokenState.VALID:
        return None
    if member.weibo_token_expires_at and member.weibo_token_expires_at <= timezone.now():
        return None
    return crypto.decrypt(member.weibo_token_encrypted)


def member_token_invalidate(*, member: Member, reason: str, notify_member: bool = True) -> None:
    """Weibo refused the token (expired, revoked): the next share waits for re-authorisation.

    ``notify_member=False`` when the caller tells the member itself (a waiting share says so).
    """
    with transaction.atomic():
        updated = Member.objects.filter(
            pk=member.pk, weibo_token_state=Member.TokenState.VALID
        ).update(weibo_token_state=Member.TokenState.NEEDS_REAUTH)
        if updated:
            audit_record(action="member.token_invalid", target=member, rule="weibo", reason=reason)
        if updated and notify_member:
            with written_for(member.language):
                notify(
                    user_id=member.user_id,
                    kind=Notification.Kind.SHARE_REAUTH,
                    title=_("微博授权已失效"),
                    body=_("分享到微博前，请重新授权。"),
                    link="/members/me/",
                    dedupe_key=f"reauth:{member.weibo_token_expires_at}",
                )


def weibo_token_verify(*, member: Member) -> bool:
    """Ask Weibo (``oauth2/get_token_info``) whether the stored token still works; mark it for
    re-authorisation if not, and keep the expiry Weibo reports.

    Raises ``WeiboError`` / ``requests.RequestException`` when Weibo gives no verdict (down,
    rate-limited): the caller decides what an unknown answer means.
    """
    token = member_token(member)
    if token is None:
        return False
    try:
        info = weibo.get_token_info(access_token=token)
    except weibo.WeiboError as error:
        if error.is_token_error:
            member_token_invalidate(member=member, reason=str(error))
            return False
        raise
    expire_in = _whole_number(info.get("expire_in"))
    if expire_in is None:
        raise weibo.WeiboError(code=0, message="get_token_info without expire_in")
    if expire_in <= 0:
        member_token_invalidate(member=member, reason="expired")
        return False
    expires_at = timezone.now() + timedelta(seconds=expire_in)
    known = member.weibo_token_expires_at
    if known is None or abs((known - expires_at).total_seconds()) > 300:
        Member.objects.filter(pk=member.pk, weibo_token_encrypted=member.weibo_token_encrypted
                              ).update(weibo_token_expires_at=expires_at)  # fmt: skip
        member.weibo_token_expires_at = expires_at
    return True


TOKEN_CHECK_SECONDS = 60


def _token_check_key(member: Member) -> str:
    # Keyed by the token itself: a new authorisation is a new key, never an old verdict.
    digest = hashlib.sha256(member.weibo_token_encrypted.encode()).hexdigest()[:16]
    return f"weibo:token-check:{member.pk}:{digest}"


def weibo_token_check(*, member: Member) -> bool:
    """Whether the member's token works, asked of Weibo at most once a minute per member.

    Pages that are about to rely on the token (the share confirmation, the account page) call
    this, so a token revoked or expired at Weibo shows as such before anything is queued. When
    Weibo gives no verdict, our own record decides and nothing is cached.
    """
    if member_token(member) is None:
        return False
    key = _token_check_key(member)
    cached = cache.get(key)
    if cached is not None:
        return bool(cached)
    try:
        usable = weibo_token_verify(member=member)
    except (weibo.WeiboError, requests.RequestException) as error:
        log.info("token check for member %s inconclusive: %s", member.pk, error)
        return member_token(member) is not None
    cache.set(key, usable, TOKEN_CHECK_SECONDS)
    return usable


TOKEN_WARNING_DAYS = 7


def member_language_set(*, user, language: str) -> None:
    """Remember the language a signed-in member chose, for what is written to them later."""
    if language in {code for code, _name in settings.LANGUAGES}:
        Member.objects.filter(user=user).exclude(language=language).update(language=language)


@dataclass(frozen=True)
class Birthday:
    """A birthday as a member gives it: month and day; the year is optional."""

    month: int
    day: int
    year: int | None = None

    def describe(self) -> str:
        """ISO-like text for the audit trail: ``1990-06-15``, or ``--06-15`` without a year."""
        year = f"{self.year:04d}" if self.year else "-"
        return f"{year}-{self.month:02d}-{self.day:02d}"


class BirthdayLocked(DomainError):
    code = "birthday_locked"
    default_message = gettext_lazy("生日填写后不能自行修改；如需更正，请联系俱乐部工作人员。")


def _stored_birthday(member: Member) -> Birthday | None:
    if member.birthday_month is None:
        return None
    return Birthday(member.birthday_month, member.birthday_day, member.birthday_year)


def member_profile_update(
    *,
    member: Member,
    display_name: str,
    birthday: Birthday | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> Member:
    """The member edits their own profile: the name the club shows, and their birthday.

    The birthday is set once by the member (loyalty programmes pay a birthday reward, and a
    birthday that can be moved is a reward that can be collected again); a correction is a
    staff matter (``member_birthday_correct``). Giving the same birthday again is not a change.
    The change is audited as the member's own (``member.profile_changed``, the values
    pseudonymised as personal data). When the profile becomes complete
    (``selectors.PROFILE_FIELDS``) ``profile_completed_at`` is stamped, once and for good, and
    the registered listeners (loyalty's "完善资料" reward) are called after commit.
    """
    now = now or timezone.now()
    display_name = (display_name or "").strip()
    if not display_name:
        raise DomainError(_("请填写昵称。"))
    if len(display_name) > 100:
        raise DomainError(_("昵称不能超过 100 个字。"))
    if birthday is not None:
        _validate_birthday(birthday, now=now)
    with transaction.atomic():
        member = _lock_member(member.pk)
        if member.state != Member.State.MEMBER:
            raise NotAMember
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        fields: list[str] = []
        if display_name != member.display_name:
            before["display_name"], after["display_name"] = member.display_name, display_name
            member.display_name = display_name
            fields.append("display_name")
        stored = _stored_birthday(member)
        if birthday is not None and birthday != stored:
            if stored is not None:
                raise BirthdayLocked
            after["birthday"] = birthday.describe()
            member.birthday_month, member.birthday_day = birthday.month, birthday.day
            member.birthday_year, member.birthday_set_at = birthday.year, now
            fields += ["birthday_month", "birthday_day", "birthday_year", "birthday_set_at"]
        if not fields:
            return member
        completed = _stamp_if_complete(member, now=now, fields=fields, after=after)
        member.save(update_fields=fields)
        audit_record(
            action="member.profile_changed",
            target=member,
            before=before,
            after=after,
            ip=ip,
            rule="member_request",
        )
        if completed:
            _profile_completed_on_commit(member.pk)
    return member


def _validate_birthday(birthday: Birthday, *, now: datetime) -> None:
    if not selectors.birthday_valid(birthday.month, birthday.day, birthday.year):
        raise DomainError(_("这个日期不存在，请检查月份和日期。"))
    if birthday.year is not None and not (
        1900 <= birthday.year
        and selectors.birthday_on(birthday.month, birthday.day, birthday.year)
        <= timezone.localdate(now)
    ):
        raise DomainError(_("出生年份不正确。"))


def _stamp_if_complete(member: Member, *, now: datetime, fields: list[str], after: dict) -> bool:
    """Stamp ``profile_completed_at`` the first time every profile field is filled."""
    if member.profile_completed_at is not None or selectors.profile_missing(member):
        return False
    member.profile_completed_at = now
    fields.append("profile_completed_at")
    after["profile_completed"] = True
    return True


def _profile_completed_on_commit(member_id: int) -> None:
    transaction.on_commit(
        lambda: [listener(member_id) for listener in hooks.profile_completed_listeners()]
    )


def member_birthday_correct(
    *,
    member: Member,
    birthday: Birthday,
    actor,
    reason: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> Member:
    """Staff set or correct a member's birthday (members set it once themselves).

    Audited with the reason, old and new values pseudonymised. ``birthday_set_at`` becomes now:
    a birthday corrected to today or to a day already past counts from next year, so a
    correction cannot be used to be paid at once; a year already paid is never paid twice (the
    award's key is the member and the year).
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("请填写更正原因。"))
    _validate_birthday(birthday, now=now)
    with transaction.atomic():
        member = _lock_member(member.pk)
        if member.state != Member.State.MEMBER:
            raise DomainError(_("只能更正正式会员的生日。"))
        stored = _stored_birthday(member)
        if stored == birthday:
            return member
        member.birthday_month, member.birthday_day = birthday.month, birthday.day
        member.birthday_year, member.birthday_set_at = birthday.year, now
        fields = ["birthday_month", "birthday_day", "birthday_year", "birthday_set_at"]
        after: dict[str, Any] = {"birthday": birthday.describe()}
        completed = _stamp_if_complete(member, now=now, fields=fields, after=after)
        member.save(update_fields=fields)
        audit_record(
            action="member.birthday_corrected",
            actor=actor,
            target=member,
            before={"birthday": stored.describe() if stored else None},
            after=after,
            reason=reason,
            ip=ip,
        )
        if completed:
            _profile_completed_on_commit(member.pk)
    return member


def weibo_tokens_warn_expiring(*, now: datetime | None = None) -> int:
    """Tell members whose Weibo authorisation ends within a week, once per expiry date.

    Safe to run any number of times: the notification's dedupe key is the expiry itself, so a
    member is told again only after authorising anew (a new expiry) and nearing its end.
    """
    now = now or timezone.now()
    expiring = Member.objects.filter(
        state=Member.State.MEMBER,
        weibo_token_state=Member.TokenState.VALID,
        weibo_token_expires_at__gt=now,
        weibo_token_expires_at__lte=now + timedelta(days=TOKEN_WARNING_DAYS),
    ).only("pk", "user_id", "weibo_token_expires_at", "language")
    told = 0
    for member in expiring.iterator():
        expires = member.weibo_token_expires_at
        with written_for(member.language):
            sent = notify(
                user_id=member.user_id,
                kind=Notification.Kind.SHARE_REAUTH,
                title=_("微博授权即将到期"),
                body=_(
                    "你的微博授权将于 %(date)s 到期，到期后无法分享到微博。"
                    "请在“我的账户”里重新授权。"
                )
                % {"date": timezone.localtime(expires).strftime("%Y-%m-%d %H:%M")},
                link="/members/me/",
                dedupe_key=f"token-expiring:{expires.isoformat()}",
            )
        told += sent is not None
    return told


def member_leave(*, member: Member, ip: str | None = None) -> None:
    """Leave the club: revoke at Weibo (after commit), end sessions, anonymise personal data.

    The member row, ledger and audit entries stay (their sums and history must remain
    consistent); what identifies the person is removed, here and in every app's tables
    (``members.privacy``: comments, shares, redemptions, notifications, consents …).
    """
    from allauth.socialaccount.models import SocialAccount

    from members.privacy.services import member_data_erase
    from members.tasks import revoke_weibo_token

    with transaction.atomic():
        member = _lock_member(member.pk, "user")
        if member.state == Member.State.LEFT:
            return
        token_ciphertext = member.weibo_token_encrypted
        member_data_erase(member=member)  # every app's personal data; a sealed copy first
        before = {"state": member.state}
        member.state = Member.State.LEFT
        member.left_at = timezone.now()
        member.display_name = _("已退出会员")
        for name in (
            "weibo_screen_name",
            "weibo_avatar_url",
            "weibo_location",
            "weibo_gender",
            "weibo_verified_reason",
            "weibo_token_encrypted",
            "state_reason",
        ):
            setattr(member, name, "")
        member.weibo_uid = None
        member.mention_handle = None
        member.membership_number = None
        member.weibo_followers = member.weibo_friends = member.weibo_statuses = 0
        member.weibo_created_at = member.weibo_token_expires_at = None
        member.weibo_token_state = Member.TokenState.NONE
        member.save()
        CustomerRecord.objects.filter(claimed_by=member).update(claimed_by=None)
        Application.objects.filter(member=member, state=Application.State.PENDING).update(
            state=Application.State.WITHDRAWN, decided_at=timezone.now()
        )
        user = member.user
        SocialAccount.objects.filter(user=user).delete()
        user.username = f"left-{user.pk}"
        user.first_name = user.last_name = user.email = ""
        user.is_active = False
        user.save(update_fields=["username", "first_name", "last_name", "email", "is_active"])
        _end_sessions(user)
        audit_record(
            action="member.left",
            target=member,
            before=before,
            after={"state": member.state},
            ip=ip,
            rule="member_request",
        )
        audit_forget_person(user=user, member=member)  # the trail keeps their pseudonyms only
        if token_ciphertext:
            transaction.on_commit(lambda: revoke_weibo_token.delay(token_ciphertext))


# --- Customer list import -------------------------------------------------------------------------

CUSTOMER_COLUMNS = ("membership_number", "name", "tier")


def customer_import_create(*, actor, file_name: str, content: bytes) -> CustomerImport:
    from members.tasks import run_customer_import

    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("gb18030")  # Excel on Chinese Windows saves CSV as GBK
        except UnicodeDecodeError:
            raise DomainError(_("无法识别文件编码，请保存为 UTF-8 CSV。")) from None
    with transaction.atomic():
        job = CustomerImport.objects.create(
            uploaded_by=actor, file_name=file_name[:200], content=text
        )
        audit_record(
            action="customers.import_started", actor=actor, target=job, after={"file": file_name}
        )
        transaction.on_commit(lambda: run_customer_import.delay(job.pk))
    return job


def customer_import_run(*, import_id: int, progress_every: int = 200) -> CustomerImport:
    """Import rows idempotently (keyed by membership number); bad rows are reported, not fatal."""
    with transaction.atomic():
        job = CustomerImport.objects.select_for_update().get(pk=import_id)
        if job.state == CustomerImport.State.DONE:
            return job
        job.state = CustomerImport.State.RUNNING
        job.save(update_fields=["state"])
    tiers = {t.code: t for t in Tier.objects.all()} | {t.name: t for t in Tier.objects.all()}
    reader = csv.DictReader(io.StringIO(job.content))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "membership_number" not in header:
        CustomerImport.objects.filter(pk=job.pk).update(
            state=CustomerImport.State.FAILED,
            finished_at=timezone.now(),
            errors=[{"row": 1, "error": _("缺少 membership_number 列")}],
        )
        return CustomerImport.objects.get(pk=job.pk)
    rows = list(reader)
    CustomerImport.objects.filter(pk=job.pk).update(total_rows=len(rows))
    errors: list[dict] = []
    created = updated = 0
    for index, raw in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        number = row.get("membership_number", "").upper()
        tier_value = row.get("tier", "")
        if not number or len(number) > 40 or not number.replace("-", "").isalnum():
            errors.append({"row": index, "error": _("会员卡号缺失或格式不对")})
        elif tier_value and tier_value not in tiers:
            errors.append({"row": index, "error": _("未知等级：%(t)s") % {"t": tier_value}})
        else:
            _record, was_created = CustomerRecord.objects.update_or_create(
                membership_number=number,
                defaults={"name": row.get("name", "")[:100], "tier": tiers.get(tier_value)},
            )
            created += was_created
            updated += not was_created
        if (index - 1) % progress_every == 0:
            CustomerImport.objects.filter(pk=job.pk).update(processed_rows=index - 1)
    CustomerImport.objects.filter(pk=job.pk).update(
        state=CustomerImport.State.DONE,
        processed_rows=len(rows),
        created_rows=created,
        updated_rows=updated,
        errors=errors,
        finished_at=timezone.now(),
    )
    return CustomerImport.objects.get(pk=job.pk)


# --- Staff: exports -------------------------------------------------------------------------------


def members_export_record(
    *, actor, filters: dict[str, str], rows: int, ip: str | None = None
) -> None:
    """Trace a download of the member list: it carries personal data out of the system (留痕).

    Called before the file is sent, so that a download without its trace cannot happen.
    """
    audit_record(
        action="members.exported",
        actor=actor,
        target="members",
        after={"filters": filters, "rows": rows},
        ip=ip,
    )
