"""The audit trail (留痕): append-only, hash-chained, tamper-evident, covering Wagtail's actions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import secrets
import shutil
import threading
import uuid
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from community import demo
from community.models import CommunityHome, PostPage
from core.audit import (
    Verification,
    _canonical,
    audit_check,
    audit_checkpoint,
    audit_record,
    audit_seal,
    audit_verify,
)
from core.models import AuditEntry
from tests.conftest import wait_until
from tests.factories import StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db


def verify(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def seal_all() -> None:
    """Seal until nothing is pending. The sealing horizon is the oldest transaction still open
    on the whole server, so a test waits out the transactions of other databases too."""

    def done() -> bool:
        audit_seal()
        return audit_check().pending == 0

    assert wait_until(done, timeout=60), "entries stayed unsealed"


@contextmanager
def attacker():
    """A database superuser who switches the append-only triggers off first, as anyone with
    the table owner's SQL access could; what they then do is only caught by the chain."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE core_auditentry DISABLE TRIGGER USER")
        try:
            yield cursor
        finally:
            cursor.execute("ALTER TABLE core_auditentry ENABLE TRIGGER USER")


def a_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(autouse=True)
def _no_checkpoints_of_other_tests():
    """Checkpoints are files under MEDIA_ROOT, which outlive the database of one test."""
    folder = Path(django_settings.MEDIA_ROOT) / "audit-checkpoints"
    shutil.rmtree(folder, ignore_errors=True)
    yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.django_db(transaction=True)
def test_verify_audit_detects_a_row_edited_directly_in_sql():
    staff = StaffFactory()
    for index in range(3):
        audit_record(action="points.adjusted", actor=staff, target=f"member:{index}",
                     before={"balance": 0}, after={"balance": 100}, reason="补发积分")  # fmt: skip
    seal_all()
    assert "intact: 3 entries verified, 0 pending" in verify()

    middle = AuditEntry.objects.order_by("id")[1]
    with attacker() as cursor:
        cursor.execute("UPDATE core_auditentry SET reason = 'nothing to see' WHERE id = %s",
                       [middle.pk])  # fmt: skip
    with pytest.raises(CommandError, match=f"1 of 3 entries fail verification .*{middle.pk}"):
        verify()


@pytest.mark.django_db(transaction=True)
def test_verify_audit_detects_a_deleted_row():
    for index in range(3):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    seal_all()
    first = AuditEntry.objects.order_by("id").first()
    with attacker() as cursor:
        cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [first.pk])
    with pytest.raises(CommandError, match="fail verification"):
        verify()


@pytest.mark.django_db(transaction=True)
def test_a_sealed_row_made_to_look_unsealed_is_detected():
    for index in range(3):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    seal_all()
    first = AuditEntry.objects.order_by("id").first()
    with attacker() as cursor:
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


# --- The database refuses changes; the keyed chain and checkpoints catch who gets past -----------


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_to_update_delete_or_truncate_audit_entries():
    entry = audit_record(action="member.suspended", target="member:1", rule="test")
    seal_all()
    refused = [
        ("UPDATE core_auditentry SET reason = 'x' WHERE id = %s", [entry.pk]),
        ("UPDATE core_auditentry SET entry_hash = '', previous_hash = '' WHERE id = %s",
         [entry.pk]),
        ("UPDATE core_auditentry SET entry_hash = repeat('0', 64) WHERE id = %s", [entry.pk]),
        ("DELETE FROM core_auditentry WHERE id = %s", [entry.pk]),
        ("DELETE FROM core_auditentry", []),
        ("TRUNCATE core_auditentry", []),
    ]  # fmt: skip
    for sql, params in refused:
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEntry.objects.all().delete()  # not only the single-row delete of the model

    pending = audit_record(action="member.suspended", target="member:2", rule="test")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:  # filling the hash while changing the entry
            cursor.execute("UPDATE core_auditentry SET entry_hash = repeat('0', 64), "
                           "reason = 'x' WHERE id = %s", [pending.pk])  # fmt: skip
    seal_all()  # the sealer's own UPDATE passes
    assert AuditEntry.objects.get(pk=pending.pk).entry_hash
    assert AuditEntry.objects.count() == 2
    assert "intact: 2 entries verified" in verify()


@pytest.mark.django_db(transaction=True)
def test_entries_are_sealed_with_the_current_key_and_verified_with_their_own(settings):
    first, second = a_key(), a_key()
    settings.AUDIT_KEYS, settings.AUDIT_KEY_ID = f"k1:{first}", ""
    for index in range(2):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    seal_all()
    settings.AUDIT_KEYS, settings.AUDIT_KEY_ID = f"k1:{first},k2:{second}", "k2"  # rotated
    for index in range(2):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    seal_all()
    keys = list(AuditEntry.objects.order_by("xact", "id").values_list("key_id", flat=True))
    assert keys == ["k1", "k1", "k2", "k2"]
    assert "intact: 4 entries verified" in verify()

    settings.AUDIT_KEYS = f"k2:{second}"  # the old key dropped: its entries cannot be proven
    with pytest.raises(CommandError, match="2 of 4 entries fail verification"):
        verify()


@pytest.mark.django_db(transaction=True)
def test_a_chain_edited_and_rehashed_without_the_key_is_detected():
    for index in range(3):
        audit_record(action="points.adjusted", target=f"member:{index}", rule="test",
                     after={"balance": 100})  # fmt: skip
    seal_all()
    entries = list(AuditEntry.objects.order_by("xact", "id"))
    guessed = secrets.token_bytes(32)  # the attacker knows the code, not the key
    with attacker() as cursor:
        cursor.execute("UPDATE core_auditentry SET after = '{\"balance\": 100000}' "
                       "WHERE id = %s", [entries[1].pk])  # fmt: skip
        previous = ""
        for entry in AuditEntry.objects.order_by("xact", "id"):
            for digest in (  # a plain SHA-256 chain, as before, and an HMAC with a guess
                hashlib.sha256(f"{previous}|{_canonical(entry.payload())}".encode()).hexdigest(),
                hmac.new(guessed, f"{previous}|{entry.key_id}|{_canonical(entry.payload())}"
                         .encode(), hashlib.sha256).hexdigest(),
            ):  # fmt: skip
                cursor.execute("UPDATE core_auditentry SET previous_hash = %s, entry_hash = %s "
                               "WHERE id = %s", [previous, digest, entry.pk])  # fmt: skip
            previous = digest
    with pytest.raises(CommandError, match="3 of 3 entries fail verification"):
        verify()


@pytest.mark.django_db(transaction=True)
def test_cutting_off_the_newest_entries_after_a_checkpoint_is_detected():
    for index in range(5):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    seal_all()
    assert audit_checkpoint()["sealed"] == 5
    audit_record(action="member.suspended", target="member:5", rule="test")
    seal_all()
    output = verify()
    assert "intact: 6 entries verified" in output and "matches the checkpoint" in output

    newest = list(AuditEntry.objects.order_by("-xact", "-id").values_list("id", flat=True)[:2])
    with attacker() as cursor:
        cursor.execute("DELETE FROM core_auditentry WHERE id = ANY(%s)", [newest])
    assert audit_check().broken == []  # what is left is a consistent chain on its own
    with pytest.raises(CommandError, match="4 sealed entries but the checkpoint .* signed 5"):
        verify()


@pytest.mark.django_db(transaction=True)
def test_a_chain_resealed_with_the_key_after_a_deletion_does_not_match_the_checkpoint():
    for index in range(4):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    seal_all()
    audit_checkpoint()
    second = AuditEntry.objects.order_by("xact", "id")[1]
    with attacker() as cursor:  # someone who also holds the key: delete, then re-seal it all
        cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [second.pk])
        cursor.execute("UPDATE core_auditentry SET entry_hash = '', previous_hash = ''")
    audit_record(action="member.suspended", target="member:9", rule="test")  # length restored
    seal_all()
    assert audit_check().broken == []
    with pytest.raises(CommandError, match="entry 4 of the chain is not the head"):
        verify()


@pytest.mark.django_db(transaction=True)
def test_checkpoints_are_signed_json_lines_in_the_log_and_files_in_storage(caplog, tmp_path):
    for index in range(2):
        audit_record(action="member.suspended", target=f"member:{index}", rule="test")
    seal_all()
    with caplog.at_level(logging.INFO, logger="core.audit.checkpoint"):
        checkpoint = audit_checkpoint()
    head = AuditEntry.objects.order_by("-xact", "-id").first()
    assert (checkpoint["sealed"], checkpoint["head_id"]) == (2, head.pk)
    assert checkpoint["head_hash"] == head.entry_hash and checkpoint["signature"]
    lines = [r.getMessage() for r in caplog.records if r.name == "core.audit.checkpoint"]
    assert [json.loads(line) for line in lines] == [checkpoint]
    files = list((Path(django_settings.MEDIA_ROOT) / "audit-checkpoints").rglob("*.json"))
    assert [json.loads(file.read_text()) for file in files] == [checkpoint]
    assert audit_checkpoint() is None  # the chain has not moved: nothing new to sign

    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**checkpoint, "sealed": 1, "head_id": 1}))
    with pytest.raises(CommandError, match="signature does not match"):
        verify("--checkpoint", str(forged))
    from_log = tmp_path / "log.jsonl"  # a line kept by the log stream, as the JSON formatter
    from_log.write_text(json.dumps({"logger": "core.audit.checkpoint", "message": lines[0]}))
    assert "matches the checkpoint" in verify("--checkpoint", str(from_log))


@pytest.mark.django_db(transaction=True)
def test_values_that_are_not_plain_json_are_stored_as_text_and_still_verify():
    when, ref = timezone.now(), uuid.uuid4()
    entry = audit_record(action="x", rule="test", after={
        "at": when, "day": date(2026, 12, 1), "price": Decimal("9.90"), "ref": ref,
        "label": gettext_lazy("已发布"), "tags": {"b", "a"}, "big": 1e16,
    })  # fmt: skip
    seal_all()
    entry.refresh_from_db()
    encoder = DjangoJSONEncoder()
    assert entry.after == {
        "at": encoder.default(when), "day": "2026-12-01", "price": "9.90", "ref": str(ref),
        "label": "已发布", "tags": ["a", "b"], "big": 10**16,
    }  # fmt: skip
    assert "intact: 1 entries verified" in verify()


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
    seal_all()  # both ended: both sealed
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
    seal_all()
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
    seal_all()
    result = audit_check()
    assert result == Verification(sealed=len(members) * 3, pending=0, broken=[])
    assert AuditEntry.objects.filter(action="points.adjusted").count() == len(members) * 3
