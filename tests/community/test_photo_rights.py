"""People's rights over their photos: taking one down at any time, getting them in the PIPL
export (the pictures themselves, in the zip), and every photo going when the member leaves."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from community.models import ActivityPage, ActivityPhoto
from community.photos import services
from core.models import AuditEntry
from members.privacy.services import data_export_build, data_export_request
from members.services import member_leave
from tests.community import photo_helpers as ph
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db
State = ActivityPhoto.State


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def poster(tiers):
    return MemberFactory(tier=tiers["gold"], display_name="摄影会员")


@pytest.fixture
def activity():
    return ph.wall_activity(photo_moderation=ActivityPage.PhotoModeration.POST, photo_limit=5)


def test_a_member_takes_their_own_photo_down_at_any_time(
    tiers, poster, activity, django_capture_on_commit_callbacks
):
    ph.check_in(activity, poster)
    published = ph.upload(activity, poster, caption="我的照片", consent=True)
    services.photo_moderate(photo=published, actor=StaffFactory(), decision="feature")
    processing = ph.upload(activity, poster, process=False)
    files = [published.image_name, published.thumb_name, processing.original_name]
    assert all(default_storage.exists(name) for name in files)
    outsider = Client()
    assert f"/community/photos/{published.pk}/" in outsider.get(activity.url).content.decode()
    other = Client()
    other.force_login(MemberFactory(tier=tiers["gold"]).user)
    assert other.post(f"/community/photos/{published.pk}/withdraw/").status_code == 404
    client = Client()
    client.force_login(poster.user)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/community/photos/{published.pk}/withdraw/").status_code == 302
        services.photo_withdraw(member=poster, photo=processing)
    published.refresh_from_db()
    assert published.state == State.WITHDRAWN and published.caption == ""
    assert not any(default_storage.exists(name) for name in files)
    assert other.get(f"/community/photos/{published.pk}/image.jpg").status_code == 404
    assert f"/community/photos/{published.pk}/" not in outsider.get(activity.url).content.decode()
    assert AuditEntry.objects.filter(action="photo.withdrawn").count() == 2
    # The worker finding a withdrawn upload does nothing.
    assert services.photo_process(photo_id=processing.pk) == State.WITHDRAWN


def test_the_export_holds_the_members_photos_as_files(poster, activity):
    ph.check_in(activity, poster)
    photo = ph.upload(activity, poster, ph.jpeg_with_gps(size=(50, 40)), caption="合影留念")
    withdrawn = ph.upload(activity, poster, caption="删掉了")
    services.photo_withdraw(member=poster, photo=withdrawn)
    someone = MemberFactory()
    ph.check_in(activity, someone)
    ph.upload(activity, someone, caption="别人的照片")
    export = data_export_request(member=poster, language="zh-hans")
    data_export_build(export_id=export.pk)
    export.refresh_from_db()
    with default_storage.open(export.file_name, "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    names = set(archive.namelist())
    assert f"activity_photos/{photo.pk}.jpg" in names
    assert f"activity_photos/{withdrawn.pk}.jpg" not in names
    picture = Image.open(io.BytesIO(archive.read(f"activity_photos/{photo.pk}.jpg")))
    assert picture.size == (50, 40) and not picture.getexif()
    rows = json.loads(archive.read("activity_photos.json"))
    assert [row["caption_written"] for row in rows] == ["合影留念", ""]
    assert rows[0]["file"] == f"activity_photos/{photo.pk}.jpg"
    assert "别人的照片" not in json.dumps(rows, ensure_ascii=False)
    assert "activity_photos/" in archive.read("README.txt").decode()


def test_leaving_the_club_removes_the_members_photos(
    tiers, poster, activity, django_capture_on_commit_callbacks
):
    ph.check_in(activity, poster)
    photo = ph.upload(activity, poster, caption="离开前的照片", consent=True)
    services.photo_moderate(photo=photo, actor=StaffFactory(), decision="feature")
    held = ph.upload(activity, poster, process=False)
    names = [photo.image_name, photo.thumb_name, held.original_name]
    reporter_of_others = MemberFactory(tier=tiers["gold"])
    ph.check_in(activity, reporter_of_others)
    kept = ph.upload(activity, reporter_of_others, caption="留下的照片")
    services.photo_report(member=poster, photo=kept, reason="other", detail="我举报的理由")
    outsider = Client()
    assert f"/community/photos/{photo.pk}/" in outsider.get(activity.url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        member_leave(member=poster)
    assert not any(default_storage.exists(name) for name in names)
    assert not ActivityPhoto.objects.filter(caption_written__contains="离开前").exists()
    assert set(ActivityPhoto.objects.filter(member=poster).values_list("state", flat=True)) == {
        State.WITHDRAWN
    }
    assert f"/community/photos/{photo.pk}/" not in outsider.get(activity.url).content.decode()
    assert kept.reports.get().detail == ""
    kept.refresh_from_db()
    assert kept.state == State.PUBLISHED and default_storage.exists(kept.image_name)


def test_the_teaser_needs_the_members_agreement_off_by_default(poster, activity):
    ph.check_in(activity, poster)
    client = Client()
    client.force_login(poster.user)
    page = client.get(f"/community/activities/{activity.pk}/photos/").content.decode()
    assert 'name="public_consent" value="1" data-testid="photo-consent">' in page  # unchecked
    photo = ph.upload(activity, poster)
    assert photo.public_consent is False
    services.photo_moderate(photo=photo, actor=StaffFactory(), decision="feature")
    assert f"/community/photos/{photo.pk}/" not in Client().get(activity.url).content.decode()
    assert Client().get(f"/community/photos/{photo.pk}/thumb.jpg").status_code == 404
