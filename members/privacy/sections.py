"""The export sections the members app itself contributes (profile, consents, admission,
notifications, segment, audit entries about the member, days active)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from core.models import AuditEntry, DailyActiveMember, Notification, NotificationPreference
from members.models import AdmissionDecision, Application, InvitationCode, InvitationUse, Member
from members.privacy.registry import Rows, Section, register_section


def profile(member: Member) -> dict[str, Any]:
    user = member.user
    return {
        "member": {
            "id": member.pk,
            "display_name": member.display_name,
            "state": member.state,
            "state_label": member.get_state_display(),
            "tier": member.tier.name if member.tier else None,
            "membership_number": member.membership_number,
            "joined_at": member.joined_at,
            "created_at": member.created_at,
            "last_seen_at": member.last_seen_at,
            "left_at": member.left_at,
            "show_name_on_shares": member.show_name_on_shares,
            "invited_by_a_member": member.invited_by_id is not None,
            "birthday_month": member.birthday_month,
            "birthday_day": member.birthday_day,
            "birthday_year": member.birthday_year,
            "profile_completed_at": member.profile_completed_at,
        },
        "account": {
            "username": user.get_username(),
            "date_joined": user.date_joined,
            "last_login": user.last_login,
        },
        "weibo": {
            "uid": member.weibo_uid,
            "screen_name": member.weibo_screen_name,
            "avatar_url": member.weibo_avatar_url,
            "location": member.weibo_location,
            "gender": member.weibo_gender,
            "followers_count": member.weibo_followers,
            "friends_count": member.weibo_friends,
            "statuses_count": member.weibo_statuses,
            "verified": member.weibo_verified,
            "verified_type": member.weibo_verified_type,
            "verified_reason": member.weibo_verified_reason,
            "default_avatar": member.weibo_default_avatar,
            "created_at": member.weibo_created_at,
            "refreshed_at": member.weibo_refreshed_at,
            # The token itself is a secret between the club and Weibo: only its state is told.
            "token_state": member.weibo_token_state,
            "token_expires_at": member.weibo_token_expires_at,
        },
        "zombie_check": {
            "suspected": member.zombie_suspected,
            "reasons": member.zombie_reasons,
        },
    }


def segment(member: Member) -> dict[str, Any]:
    return {
        "segment": member.segment,
        "segment_label": member.get_segment_display() if member.segment else "",
        "since": member.segment_since,
        "reasons": member.segment_reasons,
    }


def consents(member: Member) -> Rows:
    return [
        {
            "version": c.text.version,
            "title": c.text.title,
            "accepted_at": c.accepted_at,
            "ip": c.ip,
        }
        for c in member.consents.select_related("text").order_by("accepted_at", "pk")
    ]


def admission(member: Member) -> dict[str, Any]:
    application = Application.objects.filter(member=member).first()
    used = InvitationUse.objects.filter(member=member).select_related("code").first()
    return {
        "application": {
            "message": application.message,
            "state": application.state,
            "submitted_at": application.submitted_at,
            "decided_at": application.decided_at,
        }
        if application
        else None,
        "decisions": [
            {"outcome": d.outcome, "route": d.route, "reason": d.reason, "at": d.created_at}
            for d in AdmissionDecision.objects.filter(member=member).order_by("created_at", "pk")
        ],
        "invitation_used": {"code": used.code.code, "used_at": used.used_at} if used else None,
    }


def invitations(member: Member) -> Rows:
    return [
        {
            "code": code.code,
            "created_at": code.created_at,
            "expires_at": code.expires_at,
            "uses": code.uses,
            "max_uses": code.max_uses,
            "revoked_at": code.revoked_at,
        }
        for code in InvitationCode.objects.filter(inviter=member).order_by("created_at", "pk")
    ]


def notifications(member: Member) -> Rows:
    return [
        {
            "created_at": n.created_at,
            "kind": n.kind,
            "title": n.title,
            "body": n.body,
            "link": n.link,
            "read_at": n.read_at,
        }
        for n in Notification.objects.filter(user_id=member.user_id).order_by("pk")
    ]


def notification_preferences(member: Member) -> Rows:
    return [
        {"muted_kind": kind}
        for kind in NotificationPreference.objects.filter(user_id=member.user_id)
        .order_by("kind")
        .values_list("kind", flat=True)
    ]


def audit_entries(member: Member) -> Rows:
    entries = AuditEntry.objects.filter(
        target_type=Member._meta.label, target_id=str(member.pk)
    ).order_by("pk")
    return [
        {
            "created_at": e.created_at,
            "action": e.action,
            # Who acted, by name where the trail keeps names apart from entries.
            "by": getattr(e, "actor_name", None) or e.actor_label,
            "before": e.before,
            "after": e.after,
            "reason": e.reason,
            "ip": e.ip,
        }
        for e in entries
    ]


def active_days(member: Member) -> Rows:
    days = DailyActiveMember.objects.filter(member=member).order_by("day")
    return [{"day": day} for day in days.values_list("day", flat=True)]


def register() -> None:
    for section in (
        Section(
            "profile",
            _("个人资料"),
            _("会员资料、登录账户和微博资料（不含微博令牌本身）。"),
            profile,
        ),
        Section("segment", _("用户分层"), _("您所在的用户分层、进入时间和依据。"), segment),
        Section(
            "consents", _("授权记录"), _("您同意过的授权说明版本、时间和当时的 IP 地址。"), consents
        ),
        Section("admission", _("入会记录"), _("入会申请、入会决定和使用的邀请码。"), admission),
        Section("invitations", _("邀请码"), _("您生成的邀请码及使用情况。"), invitations),
        Section("notifications", _("通知"), _("俱乐部发给您的全部通知。"), notifications),
        Section(
            "notification_preferences",
            _("通知设置"),
            _("您关闭的通知类型。"),
            notification_preferences,
        ),
        Section(
            "audit_entries",
            _("审计记录"),
            _("审计日志中关于您的记录：谁在何时对您的会员资格做了什么、依据是什么。"),
            audit_entries,
        ),
        Section(
            "active_days", _("活跃日期"), _("您使用俱乐部的日期（用于活跃会员统计）。"), active_days
        ),
    ):
        register_section(section)
