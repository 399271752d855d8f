"""Ended early-access windows are announced to the tiers that may now read the item: every one,
in order, exactly once, whatever the number of items and however runs end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from community import announcements
from community.announcements import early_access_sweep, item_announce
from community.models import GatedPage, ItemAnnouncement, PostPage
from core.models import Notification, NotificationPreference
from tests.community.test_claims import publish_item
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db


@pytest.fixture
def club():
    tiers = standard_tiers()
    silver = [MemberFactory(tier=tiers["silver"]) for _ in range(3)]
    return tiers, silver


def early_access_post(tiers, index: int, ended_minutes_ago: int) -> PostPage:
    """A post for every member, gold first; its early access ended some minutes ago."""
    return publish_item(PostPage(
        title=f"金卡抢先 {index}", slug=f"early-{index}", summary="公开摘要", access="members",
        early_access_tier=tiers["gold"],
        early_access_until=timezone.now() - timedelta(minutes=ended_minutes_ago),
        body=[("paragraph", "<p>正文</p>")],
    ))  # fmt: skip


def silver_notices(members) -> dict[int, list[str]]:
    return {
        member.pk: sorted(
            Notification.objects.filter(user=member.user, kind="item_opened").values_list(
                "title", flat=True
            )
        )
        for member in members
    }


def test_each_run_moves_on_past_items_already_announced(club, settings):
    tiers, silver = club
    settings.ANNOUNCE_BATCH_SIZE = 3
    posts = [early_access_post(tiers, n, ended_minutes_ago=60 - n) for n in range(8)]
    # The oldest windows were announced long ago: an unordered batch kept picking them.
    for post in posts[:4]:
        item_announce(page_id=post.pk)
    expected = sorted(f"新内容向您开放：{post.title}" for post in posts)

    heard = []
    for _run in range(4):
        early_access_sweep()
        heard.append(len(silver_notices(silver)[silver[0].pk]))
    assert heard == [4, 6, 8, 8]  # each run progresses by its batch, then nothing is left
    assert all(titles == expected for titles in silver_notices(silver).values())
    assert ItemAnnouncement.objects.filter(tier=tiers["silver"]).count() == 8


def test_a_crashed_run_neither_skips_nor_repeats(club, settings, monkeypatch):
    tiers, silver = club
    settings.ANNOUNCE_BATCH_SIZE = 500
    posts = [early_access_post(tiers, n, ended_minutes_ago=30 - n) for n in range(5)]
    calls = []

    def dies_on_the_third_item(*, page_id):
        calls.append(page_id)
        announced = item_announce(page_id=page_id)
        if len(calls) == 3:
            raise RuntimeError("worker lost mid-run")
        return announced

    monkeypatch.setattr(announcements, "item_announce", dies_on_the_third_item)
    with pytest.raises(RuntimeError):
        early_access_sweep()
    # The third item's announcement rolled back with the cursor: the first two stand.
    assert len(silver_notices(silver)[silver[0].pk]) == 2
    monkeypatch.undo()

    early_access_sweep()
    early_access_sweep()  # a repeated run finds nothing left
    expected = sorted(f"新内容向您开放：{post.title}" for post in posts)
    assert all(titles == expected for titles in silver_notices(silver).values())
    assert ItemAnnouncement.objects.filter(tier=tiers["silver"]).count() == 5


def test_a_window_still_open_waits_and_an_unpublished_item_is_not_announced(club):
    tiers, silver = club
    open_post = early_access_post(tiers, 1, ended_minutes_ago=-30)  # ends in 30 minutes
    gone = early_access_post(tiers, 2, ended_minutes_ago=5)
    gone.unpublish()
    early_access_sweep()
    assert silver_notices(silver)[silver[0].pk] == []
    GatedPage.objects.filter(pk=open_post.pk).update(
        early_access_until=timezone.now() - timedelta(seconds=1)
    )  # the window has ended
    early_access_sweep()
    assert silver_notices(silver)[silver[0].pk] == [f"新内容向您开放：{open_post.title}"]


def test_a_tier_larger_than_a_batch_is_told_whole_and_once(settings):
    """520 silver members, read and written 50 at a time: each is told once, even when the
    sweep and the publication task both run again."""
    from django.contrib.auth.models import User

    from members.models import Member

    settings.TIER_NOTIFY_BATCH = 50
    settings.ANNOUNCE_BATCH_SIZE = 1
    tiers = standard_tiers()
    users = User.objects.bulk_create(User(username=f"silver-{n}") for n in range(520))
    Member.objects.bulk_create(
        Member(user=user, state=Member.State.MEMBER, tier=tiers["silver"], joined_at=timezone.now())
        for user in users
    )
    muted = users[7]
    NotificationPreference.objects.create(user=muted, kind="item_opened")
    post = early_access_post(tiers, 1, ended_minutes_ago=5)

    early_access_sweep()
    early_access_sweep()
    item_announce(page_id=post.pk)  # the publication task, delivered late
    told = Notification.objects.filter(kind="item_opened", dedupe_key=f"item:{post.pk}")
    assert told.count() == 519
    assert told.values("user").distinct().count() == 519
    assert not told.filter(user=muted).exists()
    record = ItemAnnouncement.objects.get(page=post, tier=tiers["silver"])
    assert record.recipients == 519
