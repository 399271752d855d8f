"""The audit trail (留痕): append-only, hash-chained, tamper-evident, covering Wagtail's actions."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from community import demo
from community.models import CommunityHome, PostPage
from core.audit import Verification, audit_check, audit_record, audit_seal, audit_verify
from core.models import AuditEntry
from tests.factories import StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_verify_audit_detects_a_row_edited_directly_in_sql():
    staff = StaffFactory()
    for index in range(3):
        audit_record(action="points.adjusted", actor=staff, target=f"member:{index}",
                     before={"balance": 0}, after={"balance": 100}, reason="补发积分")  # fmt: skip
    assert "intact: 3 entries verified, 0 pending" in verify()

    middle = AuditEntry.objects.order_by("id")[1]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditentry SET reason = 'nothing to see' WHERE id = %s",
                       [middle.pk])  # fmt: skip
    with pytest.raises(CommandError, match=f"1 of 3 entries fail verification .*{middle.pk}"):
        verify()


@pytest.mark.django_db(transaction=True)
def test_verify_audit_detects_a_deleted_row():
    for index in range(3):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    audit_seal()
    first = AuditEntry.objects.order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [first.pk])
    with pytest.raises(CommandError, match="fail verification"):
        verify()


@pytest.mark.django_db(transaction=True)
def test_a_sealed_row_made_to_look_unsealed_is_detected():
    for index in range(3):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    audit_seal()
    first = AuditEntry.objects.order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditentry SET entry_hash = '', reason = 'x' WHERE id = %s",
                       [first.pk])  # fmt: skip
    assert first.pk in audit_verify()


def test_an_entry_of_an_open_transaction_is_pending_not_broken():
    """In this test's own open transaction nothing can be sealed yet: reported as pending."""
    audit_record(action="member.suspended", target="member:1", rule="test")
    assert audit_seal() == 0
    result = audit_check()
    assert (result.sealed, result.pending, result.broken) == (0, 1, [])
    assert "0 entries verified, 1 pending" in verify()


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


# --- Concurrency: no lock when recording, one unbroken chain when sealed ------------------------


def _open_transaction_with_entry(label: str, recorded: threading.Event, release: threading.Event,
                                 before_entry=None) -> None:  # fmt: skip
    try:
        with transaction.atomic():
            if before_entry is not None:
                before_entry()
            audit_record(action="member.suspended", target=label, rule="test")
            recorded.set()
            assert release.wait(timeout=30)
    finally:
        connection.close()


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_recording_takes_no_advisory_lock_and_two_recording_transactions_are_open_at_once():
    first, second, release = threading.Event(), threading.Event(), threading.Event()
    threads = [
        threading.Thread(target=_open_transaction_with_entry, args=("a", first, release)),
        threading.Thread(target=_open_transaction_with_entry, args=("b", second, release)),
    ]
    for thread in threads:
        thread.start()
    try:
        assert first.wait(timeout=10) and second.wait(timeout=10)  # both hold an entry at once
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            assert cursor.fetchone()[0] == 0
        assert audit_seal() == 0  # both still open: nothing of theirs can be sealed
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=30)
    assert audit_seal() == 2
    assert audit_check() == Verification(sealed=2, pending=0, broken=[])


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_an_id_committed_after_a_higher_one_is_sealed_in_chain_order():
    """Transaction A starts first but writes its entry (the higher id) after B committed: the
    sealer waits for A, then chains A before B (transaction order), and the chain verifies."""
    recorded, release = threading.Event(), threading.Event()
    a_started = threading.Event()

    def start_a() -> None:  # A's transaction id is taken before B exists
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()")
        a_started.set()
        assert b_done.wait(timeout=30)

    b_done = threading.Event()
    a = threading.Thread(target=_open_transaction_with_entry,
                         args=("a", recorded, release, start_a))  # fmt: skip
    a.start()
    try:
        assert a_started.wait(timeout=10)
        b = audit_record(action="member.suspended", target="b", rule="test")  # commits at once
        b_done.set()
        assert recorded.wait(timeout=10)
        assert audit_seal() == 0  # B is behind A's open transaction
        assert audit_check().pending == 1  # only B is visible
    finally:
        b_done.set()
        release.set()
        a.join(timeout=30)
    a_entry = AuditEntry.objects.get(target_label="a")
    assert a_entry.pk > b.pk
    assert audit_seal() == 2
    chain = list(AuditEntry.objects.order_by("xact", "id").values_list("target_label", flat=True))
    assert chain == ["a", "b"]
    assert audit_check() == Verification(sealed=2, pending=0, broken=[])


@pytest.mark.race
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_many_concurrent_audited_member_actions_end_in_one_unbroken_chain():
    """24 staff corrections on 24 members at once, with a sealer running all the while."""
    from loyalty import services as loyalty
    from tests.factories import MemberFactory

    staff = StaffFactory()
    members = [MemberFactory() for _ in range(24)]
    barrier = threading.Barrier(len(members))
    done = threading.Event()
    errors: list[BaseException] = []

    def act(member) -> None:
        try:
            barrier.wait(timeout=30)
            for round_ in range(3):
                loyalty.points_adjust(member=member, amount=10, reason="补发", actor=staff,
                                      idempotency_key=f"race-{member.pk}-{round_}")  # fmt: skip
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    def seal_all_the_while() -> None:
        try:
            while not done.is_set():
                audit_seal(wait=False)
        finally:
            connection.close()

    sealer = threading.Thread(target=seal_all_the_while)
    sealer.start()
    threads = [threading.Thread(target=act, args=(member,)) for member in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    sealer.join(timeout=30)

    assert errors == []
    audit_seal()
    result = audit_check()
    assert result == Verification(sealed=len(members) * 3, pending=0, broken=[])
    assert AuditEntry.objects.filter(action="points.adjusted").count() == len(members) * 3
