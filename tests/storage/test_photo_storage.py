"""Activity photos on object storage: the member's file lands private in the bucket as an
unprocessed original, the worker replaces it with the copies it re-encoded, and members reach
them only through the gated view, never through a bucket URL."""

from __future__ import annotations

import pytest
from django.test import Client

from community.models import ActivityPhoto
from tests.community import photo_helpers as ph
from tests.factories import MemberFactory, standard_tiers
from tests.storage.test_object_storage import assert_private, bucket_named_in

pytestmark = pytest.mark.django_db


def test_a_photo_goes_private_to_the_bucket_and_is_served_only_through_the_gate(object_storage):
    tiers = standard_tiers()
    poster = MemberFactory(tier=tiers["gold"])
    activity = ph.wall_activity(tiers["silver"], photo_moderation="post")
    ph.check_in(activity, poster)
    client = Client()
    client.force_login(poster.user)
    response = client.post(
        f"/community/activities/{activity.pk}/photos/upload/",
        {"photo": ph.as_upload(ph.jpeg_with_gps()), "upload_key": "s3" * 16},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 202
    photo = ActivityPhoto.objects.get()
    assert photo.original_name == "photos/originals/" + "s3" * 16
    assert photo.original_name in object_storage.keys()
    assert_private(object_storage, photo.original_name)

    ph.process_now(photo)
    keys = object_storage.keys()
    assert photo.original_name == "" and "photos/originals/" + "s3" * 16 not in keys
    assert photo.image_name in keys and photo.thumb_name in keys
    assert_private(object_storage, photo.image_name)
    assert_private(object_storage, photo.thumb_name)

    gold = Client()
    gold.force_login(MemberFactory(tier=tiers["gold"]).user)
    served = gold.get(f"/community/photos/{photo.pk}/image.jpg")
    assert served.status_code == 200 and "Location" not in served
    assert not any(bucket_named_in(object_storage, value) for value in served.headers.values())
    data = b"".join(served.streaming_content)
    assert data == object_storage.read(photo.image_name)
    assert not ph.has_location(data)
    wall = gold.get(f"/community/activities/{activity.pk}/photos/").content.decode()
    assert not bucket_named_in(object_storage, wall)
    regular = Client()
    regular.force_login(MemberFactory(tier=tiers["regular"]).user)
    assert regular.get(f"/community/photos/{photo.pk}/image.jpg").status_code == 404
    assert Client().get(f"/community/photos/{photo.pk}/thumb.jpg").status_code == 404
