# Check-in moves to the membership card's rotating QR code: the event-wide codes go.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("community", "0009_announcement_cursor"),
    ]

    operations = [
        migrations.DeleteModel(
            name="ActivityCheckinCode",
        ),
        migrations.AlterField(
            model_name="registration",
            name="checkin_method",
            field=models.CharField(
                blank=True,
                choices=[("staff", "工作人员签到"), ("card", "会员卡扫码"), ("code", "签到码")],
                max_length=8,
                verbose_name="签到方式",
            ),
        ),
    ]
