from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0006_member_language"),
    ]

    operations = [
        migrations.AddField(
            model_name="member",
            name="birthday_month",
            field=models.PositiveSmallIntegerField(
                blank=True, null=True, verbose_name="生日（月）"
            ),
        ),
        migrations.AddField(
            model_name="member",
            name="birthday_day",
            field=models.PositiveSmallIntegerField(
                blank=True, null=True, verbose_name="生日（日）"
            ),
        ),
        migrations.AddField(
            model_name="member",
            name="birthday_year",
            field=models.PositiveSmallIntegerField(blank=True, null=True, verbose_name="出生年份"),
        ),
        migrations.AddField(
            model_name="member",
            name="birthday_set_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="生日填写时间"),
        ),
        migrations.AddField(
            model_name="member",
            name="profile_completed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="资料完善时间"),
        ),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(
                condition=models.Q(("birthday_month__isnull", False)),
                fields=["birthday_month", "birthday_day"],
                name="member_birthday",
            ),
        ),
        migrations.AddConstraint(
            model_name="member",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("birthday_day__isnull", True),
                    ("birthday_month__isnull", True),
                    ("birthday_year__isnull", True),
                )
                | models.Q(
                    ("birthday_day__gte", 1),
                    ("birthday_day__lte", 31),
                    ("birthday_month__gte", 1),
                    ("birthday_month__lte", 12),
                ),
                name="member_birthday_month_and_day",
            ),
        ),
    ]
