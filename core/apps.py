from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("基础设施")

    def ready(self) -> None:
        import core.signals  # noqa: F401
