"""Wagtail's multiple-image upload screens, with the log entries Wagtail's other views write.

The admin's "Add images" page uploads, edits and deletes through views that log nothing
(unlike the single-image views, which use Wagtail's create / edit / delete actions), so those
staff actions would never reach Wagtail's log, nor, through ``core.signals``, the audit trail.
These subclasses log the same actions (``wagtail.create``, ``wagtail.edit``,
``wagtail.delete``) and are routed in place of Wagtail's (``core.wagtail_hooks``).
"""

from __future__ import annotations

from django.db import transaction
from wagtail.images.views import multiple
from wagtail.log_actions import log


class AddView(multiple.AddView):
    template_name = "core/admin/images_multiple_add.html"

    def save_object(self, form):
        image = super().save_object(form)
        log(instance=image, action="wagtail.create", user=self.request.user)
        return image


class CreateFromUploadedImageView(multiple.CreateFromUploadedImageView):
    def save_object(self, form):
        super().save_object(form)
        log(instance=self.object, action="wagtail.create", user=self.request.user)


class EditView(multiple.EditView):
    def save_object(self, form):
        super().save_object(form)
        log(instance=self.object, action="wagtail.edit", user=self.request.user)


class DeleteView(multiple.DeleteView):
    def post(self, request, *args, **kwargs):
        with transaction.atomic():
            image = self.get_model().objects.filter(pk=kwargs[self.pk_url_kwarg]).first()
            response = super().post(request, *args, **kwargs)
            if image is not None and response.status_code == 200:
                log(instance=image, action="wagtail.delete", user=request.user)
        return response
