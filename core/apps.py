from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("基础设施")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        import core.checks  # noqa: F401 - registers the system checks
        import core.signals  # noqa: F401

        post_migrate.connect(_sync_roles, dispatch_uid="core.roles_sync")


def _sync_roles(sender, **kwargs) -> None:
    """Keep the staff role groups in line with the code after every migrate."""
    from django.apps import apps

    # Permissions are created app by app on this same signal: wait for the last app.
    if sender is not list(apps.get_app_configs())[-1]:
        return
    from core.roles import roles_sync

    roles_sync()
