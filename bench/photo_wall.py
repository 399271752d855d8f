"""Benchmark: an activity's photo wall as a gold member, with 10 and 500 photos.

Prints SQL queries per request (must not grow with the number of photos) and the median time
in process of the wall page, its JSON API, the activity page with its photo section and one
gated thumbnail, each as a ratio to the member feed (/community/) measured in the same run.
The wall shows 60 photos a page, so its first page holds 10 photos in the first round and 60
in the second: the time may grow with what is drawn, the queries may not.

    .venv/bin/python -m bench.photo_wall
"""

from __future__ import annotations

import uuid

from bench.common import bench_environment, count_queries, median_ms, print_table

SIZES = [10, 500]


def add_photos(activity, members, start: int, stop: int, image_name: str, thumb_name: str):
    from django.utils import timezone

    from community.models import ActivityPhoto

    now = timezone.now()
    ActivityPhoto.objects.bulk_create(
        [
            ActivityPhoto(
                activity=activity, member=members[index % len(members)],
                image_name=image_name, thumb_name=thumb_name, width=800, height=600,
                caption=f"第 {index} 张照片", state=ActivityPhoto.State.PUBLISHED, progress=100,
                upload_key=uuid.uuid4().hex, created_at=now, processed_at=now, published_at=now,
                featured=index % 7 == 0, public_consent=index % 3 == 0,
            )
            for index in range(start, stop)
        ]
    )  # fmt: skip


def main() -> None:
    with bench_environment("photo_wall"):
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage
        from django.test import Client

        from community import demo
        from community.models import CommunityHome
        from community.photos import images
        from tests.community.photo_helpers import check_in, jpeg_with_gps, wall_activity
        from tests.factories import MemberFactory, standard_tiers

        tiers = standard_tiers()
        demo.load_structure()
        assert CommunityHome.objects.exists()
        activity = wall_activity(tiers["silver"], slug="bench-wall", photo_limit=10)
        viewer = MemberFactory(tier=tiers["gold"])
        posters = [MemberFactory(tier=tiers["gold"]) for _n in range(20)]
        for member in posters:
            check_in(activity, member)
        processed = images.process(jpeg_with_gps(size=(1600, 1200)))
        image_name = default_storage.save("photos/bench/wall.jpg", ContentFile(processed.image))
        thumb_name = default_storage.save("photos/bench/wall_t.jpg", ContentFile(processed.thumb))
        client = Client()
        client.force_login(viewer.user)

        rows = []
        created = 0
        for size in SIZES:
            add_photos(activity, posters, created, size, image_name, thumb_name)
            created = size
            from community.models import ActivityPhoto

            one = ActivityPhoto.objects.filter(activity=activity).order_by("pk").first()
            pages = [
                ("feed /community/ (ref)", "/community/"),
                ("photo wall page", f"/community/activities/{activity.pk}/photos/"),
                ("photo wall JSON", f"/api/activities/{activity.pk}/photos/"),
                ("activity page", activity.url),
                ("one thumbnail", f"/community/photos/{one.pk}/thumb.jpg"),
            ]
            measured = []
            for label, path in pages:
                assert client.get(path).status_code == 200, path
                queries = count_queries(lambda p=path: client.get(p))
                measured.append((label, queries, median_ms(lambda p=path: client.get(p))))
            reference = measured[0][2]
            for label, queries, ms in measured:
                rows.append([size, label, queries, f"{ms:.1f}", f"{ms / reference:.2f}"])

        print_table(
            "In process, gold member (Django test client); the machine is shared, runs are brief",
            ["photos", "request", "SQL queries", "median ms", "× feed"],
            rows,
        )


if __name__ == "__main__":
    main()
