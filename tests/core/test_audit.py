"""The audit trail (留痕): append-only, hash-chained, tamper-evident, covering Wagtail's actions."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from community import demo
from community.models import CommunityHome, PostPage
from core.audit import audit_record
from core.models import AuditEntry
from tests.factories import StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_verify_audit_detects_a_row_edited_directly_in_sql():
    staff = StaffFactory()
    for index in range(3):
        audit_record(action="points.adjusted", actor=staff, target=f"member:{index}",
                     before={"balance": 0}, after={"balance": 100}, reason="补发积分")  # fmt: skip
    assert "intact: 3 entries" in verify()

    middle = AuditEntry.objects.order_by("id")[1]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditentry SET reason = 'nothing to see' WHERE id = %s",
                       [middle.pk])  # fmt: skip
    with pytest.raises(CommandError, match=f"1 of 3 entries fail verification .*{middle.pk}"):
        verify()


def test_verify_audit_detects_a_deleted_row():
    for index in range(3):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    first = AuditEntry.objects.order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [first.pk])
    with pytest.raises(CommandError, match="fail verification"):
        verify()


def test_audit_entries_cannot_be_deleted_through_the_orm():
    entry = audit_record(action="x", rule="test")
    with pytest.raises(PermissionError):
        entry.delete()


def test_wagtail_page_actions_are_in_the_audit_trail():
    tiers = standard_tiers()
    demo.load_structure()
    staff = StaffFactory()
    home = CommunityHome.objects.get()
    post = PostPage(title="审计测试", slug="audit-test", access="min_tier", min_tier=tiers["gold"])
    home.add_child(instance=post)
    post.save_revision(user=staff, log_action=True).publish(user=staff)
    post.refresh_from_db()
    post.unpublish(user=staff)
    actions = list(AuditEntry.objects.filter(actor=staff).values_list("action", flat=True))
    assert "wagtail.wagtail.publish" in actions
    assert "wagtail.wagtail.unpublish" in actions
    assert "intact" in verify()
