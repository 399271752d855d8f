"""Media on object storage, end to end: what staff upload, what members see, what Weibo gets.

Every test runs against a real S3 server (moto, on loopback) with the storage configuration
``config/settings.py`` builds for ``AWS_STORAGE_BUCKET_NAME``. Objects are checked in the bucket
itself with boto3, and the bucket is private: an unsigned request for an object's plain URL is
refused, so the site must serve gated images itself. It does, by streaming them from storage
through the access-checking image view (no redirect to a bucket URL, signed or not).
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from wagtail.images import get_image_model
from wagtail.models import Collection, GroupCollectionPermission

from community import demo
from community.models import GatedPage
from members.models import DataExport, Member
from members.privacy.services import data_export_build, data_export_request, data_exports_purge
from share import services
from share.models import Share
from share.subjects import subject_for
from tests.factories import MemberFactory, StaffFactory, UserFactory, standard_tiers
from tests.share.conftest import Sandbox, make_sharer, register
from tests.storage.conftest import local_files, run_with_s3_settings

pytestmark = pytest.mark.django_db

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def assert_private(storage, key: str) -> None:
    """Only the owner holds a grant, and an anonymous GET of the plain URL is refused."""
    grants = storage.client().get_object_acl(Bucket=storage.bucket, Key=key)["Grants"]
    assert grants, key
    for grant in grants:
        assert grant["Grantee"].get("URI") not in (ALL_USERS, AUTHENTICATED_USERS), grant
        assert grant["Grantee"]["Type"] == "CanonicalUser", grant
    assert storage.anonymous_get(key).status_code == 403, key


def png(colour=(200, 30, 60), size=(640, 360)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def bucket_named_in(storage, text: str) -> bool:
    return storage.host in text or storage.bucket in text or "X-Amz-" in text


@pytest.fixture
def club(object_storage):
    """Tiers and the demo items, their images uploaded to the bucket."""
    tiers = standard_tiers()
    demo.load()
    pages = {page.slug: page.specific for page in GatedPage.objects.all()}
    return {"tiers": tiers, "pages": pages, "storage": object_storage}


def client_for(member: Member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


# --- Configuration ---------------------------------------------------------------------------


def test_the_production_settings_store_private_objects_in_the_bucket(s3_server):
    """A process started with AWS_STORAGE_BUCKET_NAME set imports the S3 backend and writes."""
    name = run_with_s3_settings(
        s3_server.endpoint,
        "from django.core.files.base import ContentFile\n"
        "from django.core.files.storage import default_storage\n"
        f"print(default_storage.save('probe/{uuid.uuid4().hex}.txt', ContentFile(b'hello')))",
    ).strip()
    try:
        assert s3_server.read(name) == b"hello"
        assert_private(s3_server, name)
    finally:
        s3_server.client().delete_object(Bucket=s3_server.bucket, Key=name)


# --- Staff uploads ---------------------------------------------------------------------------


@pytest.fixture
def image_editor(object_storage, settings):
    settings.STAFF_REQUIRE_MFA = False
    group = Group.objects.create(name="图片编辑")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    root = Collection.get_first_root_node()
    for codename in ("add_image", "choose_image", "change_image"):
        GroupCollectionPermission.objects.create(
            group=group, collection=root, permission=Permission.objects.get(codename=codename)
        )
    user = UserFactory(is_staff=True)
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


def test_a_staff_upload_through_the_admin_lands_private_in_the_bucket(
    object_storage, image_editor, settings
):
    response = image_editor.post(
        reverse("wagtailimages:add"),
        {"title": "上传到对象存储", "collection": Collection.get_first_root_node().pk,
         "file": SimpleUploadedFile("upload.png", png())},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    image = get_image_model().objects.get(title="上传到对象存储")

    head = object_storage.client().head_object(Bucket=object_storage.bucket, Key=image.file.name)
    stored = object_storage.read(image.file.name)
    assert head["ContentLength"] == len(stored) == image.file_size
    assert Image.open(io.BytesIO(stored)).size == (640, 360)  # the re-encoded upload
    assert_private(object_storage, image.file.name)
    assert local_files(settings.MEDIA_ROOT) == []  # nothing on this machine's disk

    # The admin (staff only) shows the image through short-lived signed URLs.
    listing = image_editor.get(reverse("wagtailimages:index")).content.decode()
    signed = [
        url for url in listing.replace("&amp;", "&").split('"')
        if url.startswith(object_storage.endpoint)
    ]  # fmt: skip
    assert signed, "the admin listing shows no thumbnail from the bucket"
    for url in signed:
        expires = parse_qs(urlsplit(url).query)["X-Amz-Expires"]
        assert int(expires[0]) == 600  # ten minutes


# --- Gated images ----------------------------------------------------------------------------


def test_the_image_view_streams_renditions_from_the_bucket_to_those_who_may_see_them(club):
    tiers = club["tiers"]
    gold = client_for(MemberFactory(tier=tiers["gold"]))
    silver = client_for(MemberFactory(tier=tiers["silver"]))
    Image_ = get_image_model()
    secret = Image_.objects.get(title="secret-milan-backstage")  # in the gold part of the body
    cover = Image_.objects.get(title="cover-milan-backstage")  # part of the public teaser
    assert secret.file.name in club["storage"].keys()

    response = gold.get(f"/img/{secret.pk}/width-800/")
    assert response.status_code == 200
    assert "Location" not in response  # proxied, not redirected
    assert not any(bucket_named_in(club["storage"], value) for value in response.headers.values())
    assert "private" in response["Cache-Control"]
    served = b"".join(response.streaming_content)
    rendition = secret.renditions.get(filter_spec="width-800")
    assert rendition.file.name in club["storage"].keys()  # made in the bucket on first request
    assert served == club["storage"].read(rendition.file.name)
    assert Image.open(io.BytesIO(served)).size == (800, 450)
    assert_private(club["storage"], rendition.file.name)

    assert silver.get(f"/img/{secret.pk}/width-800/").status_code == 404
    assert Client().get(f"/img/{secret.pk}/width-800/").status_code == 404
    assert silver.get(f"/img/{cover.pk}/fill-800x450/").status_code == 200
    assert Client().get(f"/img/{cover.pk}/fill-800x450/").status_code == 200


def test_no_page_names_the_bucket_for_any_persona(club):
    tiers = club["tiers"]
    personas = {
        "outsider": Client(),
        "applicant": client_for(MemberFactory(state=Member.State.APPLICANT)),
        "silver": client_for(MemberFactory(tier=tiers["silver"])),
        "gold": client_for(MemberFactory(tier=tiers["gold"])),
        "platinum": client_for(MemberFactory(tier=tiers["platinum"])),
    }
    staff = Client()
    staff.force_login(StaffFactory())
    personas["staff"] = staff
    storage = club["storage"]
    secret = get_image_model().objects.get(title="secret-milan-backstage")
    for persona, client in personas.items():
        for slug, page in club["pages"].items():
            response = client.get(page.url)
            if response.status_code == 404:
                continue
            body = response.content.decode()
            assert not bucket_named_in(storage, body), (persona, slug)
        home = client.get("/").content.decode()
        assert not bucket_named_in(storage, home), persona
    gold_page = personas["gold"].get(club["pages"]["milan-backstage"].url).content.decode()
    assert f"/img/{secret.pk}/width-800/" in gold_page  # the image is there, through the view


def test_a_document_in_gated_text_is_streamed_from_the_bucket_to_members_with_access(club):
    from django.core.files.base import ContentFile
    from wagtail.documents import get_document_model

    document = get_document_model().objects.create(
        title="金卡行程单", file=ContentFile(b"%PDF-1.4 itinerary", name="itinerary.pdf")
    )
    assert document.file.name in club["storage"].keys()
    assert_private(club["storage"], document.file.name)
    page = club["pages"]["milan-trip"]  # gold and above
    page.body = list(page.body.raw_data) + [{
        "type": "paragraph",
        "value": f'<p><a linktype="document" id="{document.pk}">行程单</a></p>',
    }]  # fmt: skip
    page.save_revision().publish()
    url = f"/documents/{document.pk}/itinerary.pdf"

    response = client_for(MemberFactory(tier=club["tiers"]["gold"])).get(url)
    assert response.status_code == 200 and "Location" not in response
    assert b"".join(response.streaming_content) == b"%PDF-1.4 itinerary"
    assert client_for(MemberFactory(tier=club["tiers"]["silver"])).get(url).status_code == 404
    assert Client().get(url).status_code == 404


# --- Share cards -----------------------------------------------------------------------------


@pytest.fixture
def sandbox(weibo_sandbox) -> Sandbox:
    return Sandbox(weibo_sandbox)


def test_a_share_card_is_kept_in_the_bucket_posted_to_weibo_and_shown_on_the_landing_page(
    club, sandbox, settings
):
    settings.STAFF_REQUIRE_MFA = False
    storage = club["storage"]
    member = make_sharer(sandbox, uid="1001000012", tier=club["tiers"]["gold"])
    trip = club["pages"]["milan-trip"]
    register(member, trip)
    preview = client_for(member).get(f"/share/card.jpg?kind=item&ref={trip.pk}&show_name=1")
    assert preview.status_code == 200  # the confirmation page's preview, read from the bucket
    subject = subject_for(member, kind="item", ref=trip.pk)
    proposed, _token, _link = services.draft_text(member=member, subject=subject)
    share = services.share_confirm(
        member=member, subject=subject, text=proposed, with_card=True, show_name=True,
        rip="203.0.113.7", confirmation_key=uuid.uuid4().hex,
    )  # fmt: skip
    assert share.card_name in storage.keys()
    assert_private(storage, share.card_name)
    card = storage.read(share.card_name)
    assert b"".join(preview.streaming_content) == card  # rendered once, the same picture

    # The cover was read back from the bucket: the card shows it, not the plain header.
    cover_original = Image.open(io.BytesIO(storage.read(trip.cover_image.file.name)))
    cover_colour = cover_original.convert("RGB").getpixel((600, 337))
    card_colour = Image.open(io.BytesIO(card)).convert("RGB").getpixel((540, 260))
    assert max(abs(a - b) for a, b in zip(card_colour, cover_colour, strict=True)) < 12

    assert services.share_post(share_id=share.pk) == Share.State.SENT
    (post,) = sandbox.posts(uid="1001000012")
    assert sandbox.pic(post["id"]) == card

    landing_card = Client().get(f"/s/{share.token}/card.jpg")
    assert landing_card.status_code == 200
    assert b"".join(landing_card.streaming_content) == card
    landing = Client().get(f"/s/{share.token}/").content.decode()
    assert f"/s/{share.token}/card.jpg" in landing
    cover_url = f"/img/{trip.cover_image.pk}/fill-800x450/"
    assert cover_url in landing  # the cover, through the image view
    assert Client().get(cover_url).status_code == 200
    assert not bucket_named_in(storage, landing)
    assert local_files(settings.MEDIA_ROOT) == []


# --- Members' files --------------------------------------------------------------------------
# Members upload nothing; the files made for them are their data exports.


def test_a_data_export_is_private_in_the_bucket_downloaded_through_the_site_then_deleted(
    object_storage, django_capture_on_commit_callbacks
):
    member, other = MemberFactory(), MemberFactory()
    export = data_export_request(member=member, language="zh-hans")
    assert data_export_build(export_id=export.pk) == DataExport.State.READY
    export.refresh_from_db()
    assert export.file_name in object_storage.keys()
    assert_private(object_storage, export.file_name)

    download = f"/members/me/exports/{export.token}/download/"
    response = client_for(member).get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == object_storage.read(export.file_name)
    assert client_for(other).get(download).status_code == 404

    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert data_exports_purge() == 1
    assert export.file_name not in object_storage.keys()
