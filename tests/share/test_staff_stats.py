"""Staff see per item what sharing did: shares, failures by reason, reach, clicks, joins."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.utils import timezone

from core.models import AuditEntry
from members.models import Member
from share.models import Share, ShareAttempt, ShareReferral, ShareVisit
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


def _share(member, item, state, **extra) -> Share:
    now = timezone.now()
    return Share.objects.create(
        member=member, kind="item", item=item, subject_key=f"item:{item.pk}",
        subject_title=item.title, text="t", token=f"tok{member.pk}", link="http://x/s/t/",
        rip="203.0.113.1", confirmation_key=f"k{Share.objects.count()}",
        followers_at_share=member.weibo_followers, state=state,
        sent_at=now if state == "sent" else None, **extra,
    )  # fmt: skip


@pytest.fixture
def shared(club):
    trip = club["pages"]["milan-trip"]
    big = MemberFactory(weibo_followers=5000)
    small = MemberFactory(weibo_followers=300)
    sent_big = _share(big, trip, "sent", weibo_status_id="1")
    _share(small, trip, "sent", weibo_status_id="2")
    failed = _share(small, trip, "failed", last_error_code=20021)
    ShareAttempt.objects.create(
        share=failed, number=1, outcome="failed", error_code=20021,
        message="content is illegal!", started_at=timezone.now(),
    )  # fmt: skip
    for visitor in ("a", "b", "c"):
        ShareVisit.objects.create(share=sent_big, visitor=visitor, day=timezone.localdate())
    applicant = MemberFactory(state=Member.State.APPLICANT)
    admitted = MemberFactory()
    ShareReferral.objects.create(share=sent_big, member=applicant)
    ShareReferral.objects.create(share=sent_big, member=admitted, admitted_at=timezone.now())
    return trip


def test_per_item_results(shared):
    staff = StaffFactory(is_superuser=True)
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/shares/")
    assert response.status_code == 200
    html = response.content.decode()
    row = html[html.index(f'data-subject="item:{shared.pk}"') :].split("</tr>")[0]
    cells = [cell.split("</td>")[0] for cell in row.split("<td>")[1:]]
    # title, shares, sharers, sent, failed, waiting, reach, clicks, applied, admitted
    assert cells[1:] == ["3", "2", "2", "1", "0", "5300", "3", "2", "1"]
    assert "20021" in html and "content is illegal!" in html


def test_csv_export_has_the_same_numbers_and_is_audited(shared):
    staff = StaffFactory(is_superuser=True)
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/shares/?format=csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[1][0] == f"item:{shared.pk}"
    assert rows[1][2:] == ["3", "2", "2", "1", "0", "5300", "3", "2", "1"]
    assert AuditEntry.objects.filter(action="share.stats_exported", actor=staff).exists()


def test_the_editor_counts_the_share_text_and_refuses_one_too_long(club):
    from django.core.exceptions import ValidationError

    trip = club["pages"]["milan-trip"]
    client = Client()
    client.force_login(StaffFactory(is_superuser=True))
    html = client.get(f"/admin/pages/{trip.pk}/edit/").content.decode()
    assert "data-weibo-counter" in html
    assert re.search(r"share/weibo-counter[.\w]*\.js", html)

    trip.share_text_template = "快来看看「{title}」" + "很长" * 60 + " {link}"
    with pytest.raises(ValidationError) as refused:
        trip.full_clean()
    assert "share_text_template" in refused.value.message_dict
    trip.share_text_template = "{member} 推荐：{title} {link}"
    trip.full_clean()
