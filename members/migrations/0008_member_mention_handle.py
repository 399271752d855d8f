from django.db import migrations, models


def fill_handles(apps, schema_editor):
    """Give existing members their handle; where two hold the same screen name (one of them
    stale), the one refreshed from Weibo most recently keeps it (``members.handles``)."""
    from members.handles import normalise_handle

    Member = apps.get_model("members", "Member")
    taken: dict[str, int] = {}
    members = (
        Member.objects.exclude(state="left")
        .exclude(weibo_screen_name="")
        .order_by(models.F("weibo_refreshed_at").desc(nulls_last=True), "-pk")
        .values_list("pk", "weibo_screen_name")
    )
    for pk, name in members.iterator():
        handle = normalise_handle(name)
        if handle and handle not in taken:
            taken[handle] = pk
            Member.objects.filter(pk=pk).update(mention_handle=handle)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0007_member_profile_birthday"),
    ]

    operations = [
        migrations.AddField(
            model_name="member",
            name="mention_handle",
            field=models.CharField(
                blank=True,
                editable=False,
                max_length=100,
                null=True,
                unique=True,
                verbose_name="@用户名",
            ),
        ),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(
                fields=["mention_handle"],
                name="member_handle_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
        ),
        migrations.RunPython(fill_handles, migrations.RunPython.noop),
    ]
