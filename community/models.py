"""Wagtail page types of the community."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField
from wagtail.models import Page


class LandingPage(Page):
    """The public front door: what the club is and how to get in. Never member-only content."""

    headline = models.CharField(_("标题语"), max_length=120, blank=True)
    intro = RichTextField(_("介绍"), blank=True, features=["bold", "italic", "link", "ol", "ul"])
    join_text = models.CharField(_("加入按钮文字"), max_length=40, default="用微博登录加入")

    content_panels = Page.content_panels + [
        FieldPanel("headline"),
        FieldPanel("intro"),
        FieldPanel("join_text"),
    ]
    parent_page_types = ["wagtailcore.Page"]
    max_count = 1

    class Meta:
        verbose_name = _("公开首页")
        verbose_name_plural = _("公开首页")
