"""The club one bad-input test needs: items to act on, a member with points, an applicant, staff.

Everything a request could change is summed up by ``footprint()``: a rejected request must
leave it exactly as it was.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from community.models import (
    ActivityPage,
    OfferClaim,
    OfferPage,
    PostPage,
    Registration,
)
from community.models_interaction import Comment, CommentReport, CommentRevision
from community.participation import services as participation
from core.models import Notification, NotificationPreference
from loyalty.models import PointsAccount, PointsEntry, Redemption, Reward
from members.models import AdmissionSettings, Application, InvitationCode, Member
from tests.factories import MemberFactory, StaffFactory, standard_tiers
from tests.loyalty.conftest import earn

# Modest on purpose: the suite should stay well under a minute.
FUZZ = hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a browser, a script or an attacker might send for any field: arbitrary unicode (no lone
# surrogates: they cannot be encoded in a request), huge, numeric-looking and control text.
NASTY_TEXT = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60),
    st.sampled_from([
        "", " ", "0", "-1", "-0", "1.5", "1e309", "NaN", "nan", "inf", "-inf", "None", "null",
        "9" * 40, "-" + "9" * 40, "0x1F", "١٢٣", "²", "１２", "\x00", "a\x00b", "\u202e", "\ufeff",
        "😀" * 50, "x" * 20_000, "<script>alert(1)</script>", "' OR 1=1 --", "%00", "../../etc",
        "[]", "{}", '{"a": 1}', "true", "\r\n", "\t",
    ]),
)  # fmt: skip
MISSING = object()
FIELD_VALUE = st.one_of(st.just(MISSING), NASTY_TEXT, st.lists(NASTY_TEXT, min_size=2, max_size=3))


def form_data(**fields) -> dict:
    """POST data with MISSING fields left out (a list sends the field several times)."""
    return {name: value for name, value in fields.items() if value is not MISSING}


@dataclass
class Club:
    member: Member
    other: Member
    applicant: Member
    staff: object
    post: PostPage
    offer: OfferPage
    activity: ActivityPage
    reward: Reward
    comment: Comment
    _clients: dict = field(default_factory=dict)

    def client(self, who=None) -> Client:
        """A signed-in browser for ``who`` (the member by default), reused across examples."""
        user = getattr(who or self.member, "user", who or self.member)
        if user.pk not in self._clients:
            client = Client()
            client.force_login(user)
            self._clients[user.pk] = client
        return self._clients[user.pk]


def footprint() -> tuple:
    """Every row count and total a member or staff request could change."""
    return (
        Comment.objects.count(), CommentRevision.objects.count(), CommentReport.objects.count(),
        OfferClaim.objects.count(), Registration.objects.count(),
        list(Registration.objects.order_by("pk").values_list("state", flat=True)),
        Redemption.objects.count(), PointsEntry.objects.count(),
        PointsAccount.objects.aggregate(total=Sum("balance"))["total"],
        Reward.objects.aggregate(issued=Sum("issued"))["issued"],
        Application.objects.count(), InvitationCode.objects.aggregate(uses=Sum("uses"))["uses"],
        list(Member.objects.order_by("pk").values_list("state", flat=True)),
        NotificationPreference.objects.count(), Notification.objects.filter(read_at=None).count(),
    )  # fmt: skip


@pytest.fixture(autouse=True)
def staff_mfa_not_required(settings):
    """Staff act as staff who already passed TOTP (tests/members/test_staff_login.py)."""
    settings.STAFF_REQUIRE_MFA = False


def _publish(home, page):
    home.add_child(instance=page)
    page.save_revision().publish()
    page.refresh_from_db()
    return page


@pytest.fixture
def club(db, landing_site) -> Club:
    from community.models import CommunityHome

    tiers = standard_tiers()
    settings_ = AdmissionSettings.load()
    settings_.approval_enabled = True
    settings_.save()
    home = CommunityHome.objects.get()
    now = timezone.now()
    body = [("paragraph", "<p>正文</p>")]
    post = _publish(home, PostPage(title="文章", slug="post", access="members", body=body))
    offer = _publish(home, OfferPage(
        title="优惠", slug="offer", access="members", body=body, code_mode="pool",
        valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=1),
    ))  # fmt: skip
    participation.offer_codes_add(offer=offer, codes=["CODE-1", "CODE-2"], actor=None)
    activity = _publish(home, ActivityPage(
        title="活动", slug="activity", access="members", body=body, capacity=5,
        starts_at=now + timedelta(days=10), ends_at=now + timedelta(days=11),
        registration_closes_at=now + timedelta(days=9),
        cancellation_deadline=now + timedelta(days=5),
    ))  # fmt: skip
    member = MemberFactory(tier=tiers["gold"])
    other = MemberFactory(tier=tiers["gold"])
    earn(member, 500, now, key=f"fuzz:{uuid.uuid4().hex}")
    staff = StaffFactory()
    participation.activity_register(activity=activity, member=other)
    comment = Comment.objects.create(
        page_id=post.pk, member=other, body="原评论", state="published"
    )
    return Club(
        member=member,
        other=other,
        staff=staff,
        post=post,
        offer=offer,
        activity=activity,
        applicant=MemberFactory(state=Member.State.APPLICANT, tier=None, joined_at=None),
        reward=Reward.objects.create(name="礼品", cost=100, fulfilment="physical"),
        comment=comment,
    )
