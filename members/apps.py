from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("会员")

    def ready(self) -> None:
        from members import caching
        from members.privacy import erase, sections

        caching.connect()
        # The members app's own export sections and eraser, first; the apps above add theirs.
        sections.register()
        erase.register()
