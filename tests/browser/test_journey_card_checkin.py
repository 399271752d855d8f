"""At the door: a 金卡 member shows the QR code on their membership card, and staff check them
in by pointing the phone camera at it.

The camera is Chromium's fake capture device fed a video file (``--use-file-for-fake-video-
capture``): one Y4M frame, drawn from the code the member's card shows at that moment, looped.
Chromium opens the file when the scanner starts the camera, so the frame is written after the
card is read and before the camera starts. The browser is this module's own, launched with the
fake camera (the other journeys' Chromium has none).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
import qrcode
from django.contrib.auth import get_user_model
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from community.models import ActivityPage, Registration
from loyalty.models import EarningRule, PointsAccount, Trigger
from members.demo import DEMO_STAFF_USERNAME
from members.models import Member
from tests.browser import conftest as browser_conftest
from tests.browser.conftest import SITE, load_club, run_off_the_event_loop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GOLD_UID = "1001000012"  # 金卡会员王先生 of the demo club
FRAME = (640, 480)


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("camera") / "card.y4m"
    write_y4m(path, Image.new("L", FRAME, 255))  # a blank picture until a code is shown
    return path


@pytest.fixture(scope="module")
def browser(asgi_server, camera_file):
    """Chromium with a fake camera reading ``camera_file`` and camera permission granted."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from browser_conftest._launch(
            sync_playwright, asgi_server,
            ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             f"--use-file-for-fake-video-capture={camera_file}",
             # The camera is for secure contexts only: HTTPS in production, and here the
             # plain-HTTP name the journeys use.
             f"--unsafely-treat-insecure-origin-as-secure={SITE}"),
        )  # fmt: skip
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def qr_frame(text: str) -> Image.Image:
    """The card's QR code as a phone held up to the camera shows it: black on white, centred."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(text)
    code.make(fit=True)
    picture = code.make_image(fill_color="black", back_color="white").get_image().convert("L")
    frame = Image.new("L", FRAME, 255)
    frame.paste(picture, ((FRAME[0] - picture.width) // 2, (FRAME[1] - picture.height) // 2))
    return frame


def write_y4m(path, grey: Image.Image, frames: int = 5) -> None:
    """A 4:2:0 Y4M video of a grey picture: the picture is the luma plane, chroma is neutral."""
    width, height = grey.size
    luma = grey.tobytes()
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    header = f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\n".encode()
    with open(path, "wb") as video:
        video.write(header)
        for _frame in range(frames):
            video.write(b"FRAME\n" + luma + chroma + chroma)


@pytest.fixture
def club(transactional_db):
    load_club()
    member = Member.objects.select_related("user", "tier").get(weibo_uid=GOLD_UID)
    activity = ActivityPage.objects.get(slug="milan-trip")  # 金卡 and above
    rule = EarningRule.objects.create(
        name="参加活动", trigger=Trigger.ACTIVITY_ATTENDED, points=300, description="现场签到后到账"
    )

    def register():
        from community.participation import services

        return services.activity_register(activity=activity, member=member)

    registration = run_off_the_event_loop(register)
    now = timezone.now()  # the day of the trip
    ActivityPage.objects.filter(pk=activity.pk).update(
        starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=2)
    )
    return SimpleNamespace(
        member=member, activity=activity, registration=registration, rule=rule,
        staff=get_user_model().objects.get(username=DEMO_STAFF_USERNAME),
    )  # fmt: skip


def test_staff_check_a_member_in_by_scanning_the_card_with_the_camera(page_for, club, camera_file):
    member_page = page_for(club.member.user)  # phone
    staff_page = page_for(club.staff)  # phone too: the scanner is made for one

    member_page.goto(f"{SITE}/members/me/")
    member_page.get_by_test_id("card-link").click()
    expect(member_page.get_by_test_id("card-tier")).to_have_text("金卡")
    expect(member_page.get_by_test_id("card-activities")).to_contain_text(club.activity.title)
    shown = member_page.get_by_test_id("card-code")
    expect(shown).to_have_text(re.compile(rf"{club.member.pk}-\d{{4}}-\d{{8}}"))
    expect(member_page.get_by_test_id("checkin-qr").locator("svg")).to_be_visible()
    write_y4m(camera_file, qr_frame(shown.inner_text()))

    staff_page.goto(f"{SITE}/community/checkin/")
    staff_page.get_by_role("link", name=club.activity.title).click()
    staff_page.get_by_role("button", name="打开摄像头扫码").click()
    result = staff_page.get_by_test_id("scan-result")
    expect(result).to_contain_text("签到成功", timeout=20000)
    expect(result).to_contain_text("金卡")
    expect(staff_page.get_by_test_id("scanner-counts")).to_contain_text("已签到 1")

    registration = Registration.objects.get(pk=club.registration.pk)
    assert registration.state == Registration.State.ATTENDED
    assert registration.checkin_method == "card" and registration.checked_in_by == club.staff
    assert PointsAccount.objects.get(member=club.member).lifetime_earned >= club.rule.points

    # The card stays in front of the lens: no second check-in, no second award.
    earned = PointsAccount.objects.get(member=club.member).lifetime_earned
    staff_page.locator("#checkin-card-code").fill(shown.inner_text())
    staff_page.get_by_role("button", name="签到", exact=True).click()
    expect(result).to_contain_text("已签到")
    assert PointsAccount.objects.get(member=club.member).lifetime_earned == earned

    # The member's card now says so, and shows no code any more.
    member_page.reload()
    expect(member_page.get_by_test_id("card-activities")).to_contain_text("已签到")
    expect(member_page.get_by_test_id("checkin-qr")).to_have_count(0)
