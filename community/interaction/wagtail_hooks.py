"""The "社区管理" section of the Wagtail admin (moderation queue, keywords, keyword test), the
keyword snippet, and the comments section of item pages.

Wagtail loads ``wagtail_hooks`` only at an app's top level, so ``community/wagtail_hooks.py``
imports this module. The URL configuration loads every ``wagtail_hooks`` module, so the item
page extension below is registered before any page is served.
"""

from __future__ import annotations

from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import Menu, SubmenuMenuItem
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from community.hooks import item_context_extensions, item_copy_blockers, item_version_parts
from community.interaction import admin_views as views
from community.interaction.selectors import item_interaction_versions
from community.interaction.views import has_comment_draft, item_comments
from community.models_interaction import ModerationKeyword
from core.adminkit import PermissionMenuItem

if item_comments not in item_context_extensions:
    item_context_extensions.append(item_comments)
if item_interaction_versions not in item_version_parts:
    item_version_parts.append(item_interaction_versions)
if has_comment_draft not in item_copy_blockers:
    item_copy_blockers.append(has_comment_draft)


class ModerationKeywordViewSet(SnippetViewSet):
    model = ModerationKeyword
    icon = "warning"
    menu_label = _("敏感词")
    add_to_admin_menu = False  # listed under "社区管理"
    list_display = ["word", "action", "note", "hits", "last_hit_at"]
    list_filter = ["action"]
    search_fields = ["word", "note"]
    ordering = "-hits"


register_snippet(ModerationKeywordViewSet)


admin_urlpatterns = [
    path("", views.queue, name="queue"),
    path("bulk/", views.comments_bulk, name="bulk"),
    path("<int:pk>/", views.comment_detail, name="comment_detail"),
    path("<int:pk>/decide/", views.comment_decide, name="decide"),
    path("keywords/test/", views.keyword_test, name="keyword_test"),
]


@hooks.register("register_admin_urls")
def register_interaction_admin_urls():
    return [path("community/moderation/", include((admin_urlpatterns, "interaction_admin")))]


@hooks.register("register_admin_menu_item")
def register_community_admin_menu():
    items = [
        PermissionMenuItem(
            _("审核队列"), reverse("interaction_admin:queue"), (views.PERM_MODERATE,),
            name="moderation-queue", icon_name="tasks", order=100,
        ),
        PermissionMenuItem(
            _("敏感词"), reverse("wagtailsnippets_community_moderationkeyword:list"),
            views.PERM_KEYWORDS, name="moderation-keywords", icon_name="warning", order=200,
        ),
        PermissionMenuItem(
            _("敏感词测试"), reverse("interaction_admin:keyword_test"),
            (views.PERM_MODERATE, *views.PERM_KEYWORDS),
            name="moderation-keyword-test", icon_name="search", order=300,
        ),
    ]  # fmt: skip
    return SubmenuMenuItem(
        _("社区管理"), Menu(items=items), name="community-admin", icon_name="group", order=260
    )
