from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShareConfig(AppConfig):
    name = "share"
    verbose_name = _("分享")

    def ready(self) -> None:
        from share import caching, privacy

        caching.connect()
        privacy.register()
