from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("share", "0002_attempt_outcome_rate_limited"),
    ]

    operations = [
        migrations.AddField(
            model_name="share",
            name="post_checked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="share",
            name="deleted_on_weibo_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="微博上已删除"),
        ),
    ]
