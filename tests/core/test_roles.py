"""Staff roles: each can do exactly its job in the admin and nothing else."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from community import demo
from community.models import CommunityHome
from core import roles
from core.audit import audit_record
from core.models import AuditEntry
from tests.factories import MemberFactory, UserFactory, standard_tiers

pytestmark = pytest.mark.django_db

# admin URL → roles that may open it (plus the administrator, who may open everything)
ACCESS = {
    "/admin/audit/": {roles.AUDITOR},
    "/admin/members/": {roles.MEMBER_MANAGER, roles.AUDITOR},
    "/admin/members/applications/": {roles.MEMBER_MANAGER},
    "/admin/community/moderation/": {roles.MODERATOR},
    "/admin/points/accounts/": {roles.LOYALTY_OPERATOR, roles.AUDITOR},
    "/admin/points/liability/": {roles.LOYALTY_OPERATOR, roles.AUDITOR},
    "/admin/shares/": {roles.MARKETING_EDITOR, roles.AUDITOR},
    "/admin/partners/": {roles.LOYALTY_OPERATOR, roles.AUDITOR},
}


@pytest.fixture
def staff(settings):
    settings.STAFF_REQUIRE_MFA = False
    standard_tiers()
    demo.load_structure()
    roles.roles_sync()
    users = {}
    for role in roles.ALL_ROLES:
        user = UserFactory(is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


def test_each_role_opens_exactly_its_own_admin_views(client, staff):
    for role, user in staff.items():
        client.force_login(user)
        assert client.get("/admin/").status_code == 200, role
        for url, allowed in ACCESS.items():
            status = client.get(url).status_code
            may = role in allowed or role == roles.ADMINISTRATOR
            assert (status == 200) == may, (role, url, status)


def test_only_marketing_editors_and_administrators_add_community_pages(client, staff):
    home = CommunityHome.objects.get()
    url = f"/admin/pages/{home.pk}/add_subpage/"
    for role, user in staff.items():
        client.force_login(user)
        status = client.get(url).status_code
        may = role in (roles.MARKETING_EDITOR, roles.ADMINISTRATOR)
        assert (status == 200) == may, (role, status)


def test_a_moderator_cannot_adjust_points(client, staff):
    from loyalty.models import PointsAccount

    member = MemberFactory()
    client.force_login(staff[roles.MODERATOR])
    response = client.post(f"/admin/points/accounts/{member.pk}/adjust/",
                           {"amount": 1000, "reason": "不应成功"})  # fmt: skip
    assert response.status_code == 403
    assert not PointsAccount.objects.filter(member=member, balance__gt=0).exists()


def test_nobody_can_delete_audit_entries(client, staff):
    entry = audit_record(action="points.adjusted", rule="test")
    assert not Permission.objects.filter(codename="delete_auditentry").exists()
    for user in staff.values():
        assert not user.has_perm("core.delete_auditentry")
    with pytest.raises(PermissionError):
        entry.delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_audit_log_is_filterable_and_exports_escaped_csv(client, staff):
    audit_record(action="points.adjusted", rule="test", reason='=HYPERLINK("http://x")')
    audit_record(action="member.suspended", rule="test", reason="违规")
    client.force_login(staff[roles.AUDITOR])
    page = client.get("/admin/audit/", {"action": "suspended"}).content.decode()
    assert "member.suspended" in page and "points.adjusted" not in page
    export = client.get("/admin/audit/export.csv", {"action": "points"})
    body = b"".join(export.streaming_content if export.streaming else [export.content]).decode()
    assert "'=HYPERLINK" in body  # formula cells are neutralised
    assert AuditEntry.objects.filter(action="audit.exported").exists()  # exports leave a trace


def test_roles_sync_is_idempotent(staff):
    before = {g.name: g.permissions.count() for g in Group.objects.all()}
    roles.roles_sync()
    assert {g.name: g.permissions.count() for g in Group.objects.all()} == before
