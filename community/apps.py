from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommunityConfig(AppConfig):
    name = "community"
    verbose_name = _("社区")

    def ready(self) -> None:
        import community.interaction.wagtail_hooks  # noqa: F401 (registers the comments section)
        import community.participation.item_context  # noqa: F401
        import community.photos.item_context  # noqa: F401
        import community.signals  # noqa: F401
        from community import caching, privacy
        from community.participation import card as membership_card

        caching.connect()
        privacy.register()
        membership_card.register()
