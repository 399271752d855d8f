from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("积分")

    def ready(self) -> None:
        from loyalty import caching, privacy
        from loyalty import card as membership_card
        from members import hooks

        caching.connect()
        privacy.register()
        membership_card.register()
        hooks.on_profile_completed("loyalty", _award_profile_completed)


def _award_profile_completed(member_id: int) -> None:
    """Pay the "完善资料" rule in the background (the task is safe to run twice)."""
    from loyalty.tasks import award_profile_completed

    award_profile_completed.delay(member_id)
