import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0006_photo_walls"),
        ("members", "0007_member_profile_birthday"),
    ]

    operations = [
        migrations.AddField(
            model_name="loyaltysettings",
            name="qualifying_months",
            field=models.PositiveSmallIntegerField(
                default=12,
                help_text="等级按最近这么多个月（滚动计算）获得的积分评定；评估日仍为每年一次。",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(36),
                ],
                verbose_name="等级资格期（月）",
            ),
        ),
        migrations.AddField(
            model_name="loyaltysettings",
            name="tier_risk_notice_days",
            field=models.PositiveSmallIntegerField(
                default=30,
                help_text="评估日前多少天提醒按目前积分将被降级的会员（每个评估周期一次）；0 表示不提醒。",
                validators=[django.core.validators.MaxValueValidator(180)],
                verbose_name="等级调整提前提醒天数",
            ),
        ),
        migrations.AddConstraint(
            model_name="loyaltysettings",
            constraint=models.CheckConstraint(
                condition=models.Q(("qualifying_months__gte", 1), ("qualifying_months__lte", 36)),
                name="loyalty_settings_qualifying_months_range",
            ),
        ),
        migrations.AddField(
            model_name="earningrule",
            name="zombie_audience",
            field=models.CharField(
                choices=[("all", "不限"), ("exclude", "不含疑似僵尸号"), ("only", "仅疑似僵尸号")],
                default="all",
                help_text="疑似僵尸号（粉丝极少、默认头像等，每晚重新判断）是否也能获得这条规则的积分。",
                max_length=8,
                verbose_name="疑似僵尸号",
            ),
        ),
        migrations.AlterField(
            model_name="tierrequirement",
            name="threshold",
            field=models.PositiveIntegerField(
                help_text="按资格期（积分设置，默认近 12 个月）内获得的积分计算，不是可用余额。",
                verbose_name="资格期内获得积分门槛",
            ),
        ),
        migrations.AlterField(
            model_name="tierrequirement",
            name="retain_percent",
            field=models.PositiveSmallIntegerField(
                default=90,
                help_text="评估日时，资格期内获得的积分不低于门槛的这个比例即可保留等级。",
                verbose_name="保级比例（%）",
            ),
        ),
        migrations.AlterField(
            model_name="tierchange",
            name="measured_points",
            field=models.IntegerField(verbose_name="资格期内获得积分"),
        ),
    ]
