from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("community", "0008_photo_walls"),
    ]

    operations = [
        migrations.CreateModel(
            name="AnnouncementCursor",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=50, unique=True)),
                ("last_until", models.DateTimeField(null=True)),
                ("last_page_id", models.PositiveIntegerField(default=0)),
            ],
        ),
    ]
