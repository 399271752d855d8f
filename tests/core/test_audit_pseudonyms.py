"""Personal data in the audit trail: entries hold pseudonyms; a member who leaves is erased from
the mapping and the sealed chain still verifies."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

from core.audit import (
    audit_check,
    audit_checkpoint,
    audit_forget_person,
    audit_record,
    audit_seal,
)
from core.models import FORGOTTEN_LABEL, AuditEntry, AuditSubject
from members import services
from members.models import Application
from tests.conftest import wait_until
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _staff_without_totp(settings):
    settings.STAFF_REQUIRE_MFA = False


@pytest.fixture(autouse=True)
def _no_checkpoints_of_other_tests():
    folder = Path(django_settings.MEDIA_ROOT) / "audit-checkpoints"
    shutil.rmtree(folder, ignore_errors=True)
    yield
    shutil.rmtree(folder, ignore_errors=True)


def stored_text(model) -> str:
    """Every row of a table as the database holds it (all columns, as JSON text)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce(string_agg(row_to_json(t)::text, '\n'), '') FROM {table} t"
        )
        return cursor.fetchone()[0] or ""


def seal_all() -> None:
    def done() -> bool:
        audit_seal()
        return audit_check().pending == 0

    assert wait_until(done, timeout=60), "entries stayed unsealed"


def test_entries_hold_pseudonyms_and_the_log_shows_current_names(client):
    staff = StaffFactory(username="运营小王")
    member = MemberFactory(display_name="张三丰", weibo_uid="5550001", weibo_screen_name="三丰")
    audit_record(action="member.suspended", actor=staff, target=member, reason="违规",
                 after={"weibo_uid": member.weibo_uid}, ip="203.0.113.9")  # fmt: skip
    raw = stored_text(AuditEntry)
    for personal in ("运营小王", "张三丰", "5550001", "203.0.113.9"):
        assert personal not in raw
    entry = AuditEntry.objects.get()
    assert entry.actor_label.startswith("psn_") and entry.target_label.startswith("psn_")

    client.force_login(staff)
    html = client.get("/admin/audit/").content.decode()
    for shown in ("运营小王", "张三丰", "5550001", "203.0.113.9"):
        assert shown in html
    assert entry.actor_label not in html
    assert "张三丰" in client.get("/admin/audit/?actor=小王").content.decode()
    assert "张三丰" not in client.get("/admin/audit/?actor=老李").content.decode()
    assert "张三丰" in client.get("/admin/audit/?target=三丰").content.decode()

    exported = client.get("/admin/audit/export.csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    suspended = next(row for row in rows if row[3] == "member.suspended")
    assert (suspended[2], suspended[6], suspended[10]) == ("运营小王", "张三丰", "203.0.113.9")
    assert "5550001" in suspended[8]

    member.display_name = "张真人"  # renamed: the log shows the name as it is now
    member.save(update_fields=["display_name"])
    audit_record(action="member.reinstated", actor=staff, target=member)
    assert AuditEntry.objects.filter(target_label=entry.target_label).count() == 2
    assert "张真人" in client.get("/admin/audit/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_member_who_leaves_is_erased_from_the_trail_which_still_verifies(client):
    member = MemberFactory(display_name="李小龙", weibo_uid="7770001",
                           weibo_screen_name="小龙在微博", user__username="wb7770001")  # fmt: skip
    staff = StaffFactory(username="审计员老周")
    audit_record(action="member.created", target=member, rule="weibo_login",
                 after={"state": member.state, "weibo_uid": member.weibo_uid},
                 ip="198.51.100.7")  # fmt: skip
    audit_record(action="comment.removed_by_author", actor=member.user, target=member,
                 ip="198.51.100.7")  # fmt: skip
    audit_record(action="member.suspended", actor=staff, target=member, ip="192.0.2.1")
    seal_all()
    audit_checkpoint()

    services.member_leave(member=member, ip="198.51.100.7")
    seal_all()

    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "intact" in out.getvalue() and "matches the checkpoint" in out.getvalue()
    stored = stored_text(AuditEntry) + stored_text(AuditSubject)
    for personal in ("李小龙", "7770001", "小龙在微博", "wb7770001", "198.51.100.7"):
        assert personal not in stored
    assert "审计员老周" in stored and "192.0.2.1" in stored  # the staff member is not erased

    client.force_login(staff)
    html = client.get("/admin/audit/?action=member.").content.decode()
    assert str(FORGOTTEN_LABEL) in html
    assert "李小龙" not in html and "198.51.100.7" not in html


def test_forgetting_a_member_leaves_other_people_with_the_same_address_alone():
    one, other = MemberFactory(display_name="甲"), MemberFactory(display_name="乙")
    for member in (one, other):
        audit_record(action="member.login", actor=member.user, target=member, ip="10.0.0.8")
    application = Application.objects.create(member=one, message="请批准")  # named after 甲
    audit_record(action="member.application_rejected", target=application, rule="test")
    assert audit_forget_person(user=one.user, member=one) > 0
    kept = AuditEntry.objects.get(target_id=str(other.pk))
    gone = AuditEntry.objects.get(target_id=str(one.pk))
    assert (kept.ip, kept.target_name) == ("10.0.0.8", "乙")
    assert gone.ip is None and gone.target_name == str(FORGOTTEN_LABEL)
    owned = AuditEntry.objects.get(action="member.application_rejected")
    assert owned.target_name == str(FORGOTTEN_LABEL)  # something of theirs goes with them
