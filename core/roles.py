"""Staff roles with least privilege, as Wagtail groups.

Each role gets exactly the permissions its job needs; every admin view checks them. The groups
are brought in line after every ``migrate`` (``roles_sync`` is idempotent), so a deployment always
has them. Nobody, not even an administrator, can delete audit entries: that permission does not
exist and the model refuses deletion.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

MARKETING_EDITOR = "市场编辑"
MODERATOR = "社区审核员"
LOYALTY_OPERATOR = "积分运营"
MEMBER_MANAGER = "会员管理"
AUDITOR = "审计员"
COMPLIANCE_OFFICER = "合规专员"
ADMINISTRATOR = "管理员"

ADMIN_ACCESS = "wagtailadmin.access_admin"

ROLE_PERMISSIONS: dict[str, list[str]] = {
    MARKETING_EDITOR: [
        ADMIN_ACCESS,
        "community.view_offerclaim", "community.add_offercode", "community.view_registration",
        "community.change_registration", "community.change_itemallocation",
        # Takes a claim back (refunds its points price; the member is told why).
        "community.add_offerclaimcancellation",
        "wagtailimages.add_image", "wagtailimages.change_image", "wagtailimages.choose_image",
        "wagtaildocs.add_document", "wagtaildocs.change_document", "wagtaildocs.choose_document",
        "share.view_share", "share.change_sharesettings", "core.view_growth_report",
        # Drafts new consent texts and submits them; compliance reviews and publishes.
        "members.view_consenttext", "members.add_consenttext", "members.change_consenttext",
    ],
    MODERATOR: [
        ADMIN_ACCESS,
        "community.view_comment", "community.change_comment",
        "community.view_moderationkeyword", "community.add_moderationkeyword",
        "community.change_moderationkeyword",
    ],
    LOYALTY_OPERATOR: [
        ADMIN_ACCESS,
        "loyalty.view_pointsaccount", "loyalty.adjust_points", "loyalty.set_tier",
        "loyalty.view_liability", "loyalty.view_redemption", "loyalty.change_redemption",
        "loyalty.view_reward", "loyalty.add_reward", "loyalty.change_reward",
        "loyalty.add_couponcode", "loyalty.view_earningrule", "loyalty.add_earningrule",
        "loyalty.change_earningrule", "loyalty.view_tierrequirement",
        "loyalty.add_tierrequirement", "loyalty.change_tierrequirement",
        # Coalition partners: their terms, API keys and monthly statements.
        "loyalty.view_partner", "loyalty.add_partner", "loyalty.change_partner",
        "loyalty.manage_partner_keys", "loyalty.view_partnerstatement", "loyalty.close_statement",
    ],
    MEMBER_MANAGER: [
        ADMIN_ACCESS,
        "members.view_member", "members.change_member", "members.view_application",
        "members.change_application", "members.view_invitationcode",
        "members.add_invitationcode", "members.view_customerimport",
        "members.add_customerimport", "members.change_admissionsettings",
    ],
    # Owns what members consent to (PIPL): drafts, reviews and publishes consent texts; each
    # version's own audit history is on its page. Publishing needs a second person (four eyes,
    # enforced by members.consent_services): a draft by one officer is approved by another.
    COMPLIANCE_OFFICER: [
        ADMIN_ACCESS,
        "members.view_consenttext", "members.add_consenttext", "members.change_consenttext",
        "members.publish_consenttext",
    ],
}  # fmt: skip
# Page permissions on the community's part of the tree (Wagtail's own permission model).
ROLE_PAGE_PERMISSIONS = {MARKETING_EDITOR: ["add_page", "change_page", "publish_page"]}
# Administrators hold page rights on the whole tree (granted on its root page).
ADMINISTRATOR_PAGE_PERMISSIONS = ["add_page", "change_page", "publish_page", "delete_page",
                                  "lock_page", "unlock_page"]  # fmt: skip
# Wagtail checks image and document rights per collection, on top of the model permissions.
ROLE_COLLECTION_PERMISSIONS = {
    MARKETING_EDITOR: [
        "wagtailimages.add_image", "wagtailimages.change_image", "wagtailimages.choose_image",
        "wagtaildocs.add_document", "wagtaildocs.change_document", "wagtaildocs.choose_document",
    ]
}  # fmt: skip
# Apps whose every "view" permission the auditor holds (read-only everything).
AUDITED_APPS = ["core", "members", "community", "loyalty", "share"]
ADMINISTRATOR_APPS = AUDITED_APPS + ["wagtailcore", "wagtailimages", "wagtaildocs", "auth"]


def _perms(names: list[str]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".", 1)
        permission = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if permission is not None:
            found.append(permission)
    return found


def role_permissions(role: str) -> list[Permission]:
    if role == AUDITOR:
        return _perms([ADMIN_ACCESS]) + list(
            Permission.objects.filter(
                content_type__app_label__in=AUDITED_APPS, codename__startswith="view_"
            )
        )
    if role == ADMINISTRATOR:
        return _perms([ADMIN_ACCESS]) + list(
            Permission.objects.filter(content_type__app_label__in=ADMINISTRATOR_APPS).exclude(
                codename="delete_auditentry"
            )
        )
    return _perms(ROLE_PERMISSIONS[role])


ALL_ROLES = [
    MARKETING_EDITOR, MODERATOR, LOYALTY_OPERATOR, MEMBER_MANAGER, AUDITOR, COMPLIANCE_OFFICER,
    ADMINISTRATOR,
]  # fmt: skip


def roles_sync() -> dict[str, int]:
    """Create or update every role group to hold exactly its permissions."""
    from wagtail.models import Collection, GroupCollectionPermission, GroupPagePermission, Page

    from community.models import CommunityHome

    counts = {}
    with transaction.atomic():
        for role in ALL_ROLES:
            group, _created = Group.objects.get_or_create(name=role)
            permissions = role_permissions(role)
            group.permissions.set(permissions)
            counts[role] = len(permissions)
        home = CommunityHome.objects.first()
        for role, codenames in ROLE_PAGE_PERMISSIONS.items():
            group = Group.objects.get(name=role)
            if home is None:
                continue
            page = Page.objects.get(pk=home.pk)
            for codename in codenames:
                permission = Permission.objects.filter(
                    content_type__app_label="wagtailcore", codename=codename
                ).first()
                if permission is not None:
                    GroupPagePermission.objects.get_or_create(
                        group=group, page=page, permission=permission
                    )
        tree_root = Page.get_first_root_node()
        if tree_root is not None:
            group = Group.objects.get(name=ADMINISTRATOR)
            for codename in ADMINISTRATOR_PAGE_PERMISSIONS:
                permission = Permission.objects.filter(
                    content_type__app_label="wagtailcore", codename=codename
                ).first()
                if permission is not None:
                    GroupPagePermission.objects.get_or_create(
                        group=group, page=tree_root, permission=permission
                    )
        root_collection = Collection.get_first_root_node()
        for role, names in ROLE_COLLECTION_PERMISSIONS.items():
            group = Group.objects.get(name=role)
            if root_collection is None:
                continue
            for permission in _perms(names):
                GroupCollectionPermission.objects.get_or_create(
                    group=group, collection=root_collection, permission=permission
                )
    return counts
