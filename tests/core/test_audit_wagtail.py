"""Every Wagtail action staff take in the admin reaches the audit chain, scheduling included.

Each action is driven through the admin's own views with the test client, as a staff user
would in a browser (the form fields are read from the page the admin renders)."""

from __future__ import annotations

import io
import shutil
from datetime import UTC, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from PIL import Image as PILImage
from wagtail.images import get_image_model
from wagtail.models import (
    Collection,
    GroupApprovalTask,
    Workflow,
    WorkflowPage,
    WorkflowTask,
)

from community import demo
from community.models import CommunityHome, PostPage
from community.models_interaction import ModerationKeyword
from core.audit import audit_check, audit_seal
from core.models import AuditEntry
from tests.conftest import wait_until
from tests.factories import StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db(transaction=True)


class _Forms(HTMLParser):
    """The fields a browser would submit from each form of a page (no JavaScript run)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: dict | None = None
        self._textarea: list | None = None

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "form":
            self._form = {"id": a.get("id") or "", "fields": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if not a.get("name") or kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            default = "on" if kind in ("checkbox", "radio") else ""
            self._form["fields"].append((a["name"], a.get("value", default)))
        elif tag == "select" and a.get("name"):
            self._select = {"name": a["name"], "chosen": [], "first": None,
                            "multiple": "multiple" in a}  # fmt: skip
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select["first"] is None:
                self._select["first"] = value
            if "selected" in a:
                self._select["chosen"].append(value)
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_data(self, data) -> None:
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            chosen = self._select["chosen"]
            if not chosen and not self._select["multiple"] and self._select["first"] is not None:
                chosen = [self._select["first"]]
            self._form["fields"] += [(self._select["name"], value) for value in chosen]
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form["fields"].append(tuple(self._textarea))
            self._textarea = None


def form_fields(client, url: str, *, field: str, form_id: str = "") -> dict[str, list[str]]:
    """What the form (by id, or the first holding ``field``) on ``url`` would submit."""
    response = client.get(url)
    assert response.status_code == 200, url
    parser = _Forms()
    parser.feed(response.content.decode())
    for form in parser.forms:
        names = [name for name, _ in form["fields"]]
        if (form_id and form["id"] == form_id) or (not form_id and field in names):
            data: dict[str, list[str]] = {}
            for name, value in form["fields"]:
                data.setdefault(name, []).append(value)
            return data
    raise AssertionError(f"no form with {field or form_id} on {url}")


def page_form(client, url: str, **changes) -> dict:
    data = form_fields(client, url, field="title", form_id="page-edit-form")
    data.setdefault("body-count", ["0"])  # the StreamField's inputs are drawn by JavaScript
    data.update({key.replace("__", "-"): value for key, value in changes.items()})
    return data


def posted(response, *, expect: int = 302) -> None:
    if response.status_code != expect:
        context = response.context or {}
        form = context.get("form")
        messages = [str(m) for m in context.get("messages", [])]
        raise AssertionError(f"{response.status_code}: {getattr(form, 'errors', '')} {messages}")


def png(name: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    PILImage.new("RGB", (40, 30), (180, 40, 40)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def admin(client, settings):
    settings.STAFF_REQUIRE_MFA = False
    folder = Path(django_settings.MEDIA_ROOT) / "audit-checkpoints"
    shutil.rmtree(folder, ignore_errors=True)
    standard_tiers()
    demo.load_structure()
    staff = StaffFactory(username="编辑小林")
    client.force_login(staff)
    return client, staff


def entry(staff, action: str, target) -> AuditEntry:
    """The newest mirror of Wagtail's log action ``action`` by ``staff`` on ``target``."""
    found = AuditEntry.objects.filter(
        action=f"wagtail.{action}", actor=staff, target_id=str(target.pk)
    )
    assert found.exists(), f"{action} on {target!r} is not in the audit trail: " + str(
        list(AuditEntry.objects.values_list("action", "actor_id", "target_type", "target_id"))
    )
    return found.latest("id")


def test_every_page_action_in_the_admin_reaches_the_chain(admin):
    client, staff = admin
    home = CommunityHome.objects.get()
    post = PostPage(title="审计页面", slug="audited-page", access="public")
    home.add_child(instance=post)
    post.save_revision(user=staff)
    edit = f"/admin/pages/{post.pk}/edit/"

    posted(client.post(edit, page_form(client, edit, action__publish="action-publish")))
    entry(staff, "wagtail.publish", post)

    posted(client.post(f"/admin/pages/{post.pk}/unpublish/"))
    entry(staff, "wagtail.unpublish", post)

    go_live = timezone.localtime() + timedelta(days=2)
    posted(client.post(edit, page_form(client, edit, action__publish="action-publish",
                                       go_live_at=go_live.strftime("%Y-%m-%d %H:%M"))))  # fmt: skip
    scheduled = entry(staff, "wagtail.publish.schedule", post)
    # The entry records the moment in UTC; the form took it in the club's time zone.
    assert go_live.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") in str(scheduled.after)

    # A scheduled page is locked for editing until its schedule is cancelled.
    waiting = post.revisions.get(approved_go_live_at__isnull=False)
    posted(client.post(f"/admin/pages/{post.pk}/revisions/{waiting.pk}/unschedule/"))
    entry(staff, "wagtail.schedule.cancel", post)

    # Items live under the one community home (max_count = 1): moving one is reordering it.
    posted(client.post(f"/admin/pages/{post.pk}/move/{home.pk}/confirm/"))
    entry(staff, "wagtail.reorder", post)

    first_revision = post.revisions.order_by("id").first()
    revert = f"/admin/pages/{post.pk}/revisions/{first_revision.pk}/revert/"
    posted(client.post(revert, page_form(client, revert, title="审计页面（恢复）")))
    entry(staff, "wagtail.revert", post)

    posted(client.post(f"/admin/pages/{post.pk}/copy/", {
        "new_title": "审计页面副本", "new_slug": "audited-page-copy", "new_parent_page": home.pk,
    }))  # fmt: skip
    copy = PostPage.objects.get(slug="audited-page-copy")
    entry(staff, "wagtail.copy", copy)

    posted(client.post(f"/admin/pages/{copy.pk}/delete/"))
    entry(staff, "wagtail.delete", copy)

    # Workflow: submit for moderation, reject, submit again, approve.
    workflow = Workflow.objects.create(name="内容审核")
    task = GroupApprovalTask.objects.create(name="编辑审核")
    WorkflowTask.objects.create(workflow=workflow, task=task, sort_order=0)
    WorkflowPage.objects.update_or_create(page=home, defaults={"workflow": workflow})
    for decision in ("reject", "approve"):
        posted(client.post(edit, page_form(client, edit, action__submit="action-submit")))
        entry(staff, "wagtail.workflow.start", post)
        post.refresh_from_db()
        state = post.current_workflow_task_state
        url = f"/admin/pages/workflow/action/{post.pk}/{decision}/{state.pk}/"
        posted(client.post(url, {"comment": ""}))
        entry(staff, f"wagtail.workflow.{decision}", post)

    def sealed() -> bool:
        audit_seal()
        return audit_check().pending == 0

    assert wait_until(sealed, timeout=60)
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "intact" in out.getvalue()
    assert not AuditEntry.objects.filter(action__startswith="wagtail.", entry_hash="").exists()


def test_snippet_and_image_actions_in_the_admin_reach_the_chain(admin):
    client, staff = admin
    add = "/admin/snippets/community/moderationkeyword/add/"
    data = form_fields(client, add, field="word")
    data.update({"word": ["代购"], "action": ["hold"], "note": ["广告"]})
    posted(client.post(add, data))
    keyword = ModerationKeyword.objects.get(word="代购")
    entry(staff, "wagtail.create", keyword)
    edit = f"/admin/snippets/community/moderationkeyword/edit/{keyword.pk}/"
    data = form_fields(client, edit, field="word")
    data["note"] = ["广告（代购）"]
    posted(client.post(edit, data))
    entry(staff, "wagtail.edit", keyword)

    Image = get_image_model()
    root = Collection.get_first_root_node()
    posted(client.post("/admin/images/add/", {"title": "封面", "file": png("cover.png"),
                                              "collection": root.pk}))  # fmt: skip
    image = Image.objects.get(title="封面")
    entry(staff, "wagtail.create", image)

    response = client.post("/admin/images/multiple/add/", {"files[]": png("batch.png")},
                           headers={"x-requested-with": "XMLHttpRequest"})  # fmt: skip
    posted(response, expect=200)
    uploaded = Image.objects.get(pk=response.json()["image_id"])
    entry(staff, "wagtail.create", uploaded)

    edit = f"/admin/images/{image.pk}/"
    data = form_fields(client, edit, field="title")
    data["title"] = ["封面（新）"]
    posted(client.post(edit, data))
    entry(staff, "wagtail.edit", image)

    prefix = f"image-{uploaded.pk}"
    response = client.post(f"/admin/images/multiple/{uploaded.pk}/", {
        f"{prefix}-title": "批量上传", f"{prefix}-collection": root.pk, f"{prefix}-tags": "",
    })  # fmt: skip
    posted(response, expect=200)
    assert response.json()["success"], response.json()
    entry(staff, "wagtail.edit", uploaded)

    posted(client.post(f"/admin/images/multiple/{uploaded.pk}/delete/"), expect=200)
    entry(staff, "wagtail.delete", uploaded)

    def sealed() -> bool:
        audit_seal()
        return audit_check().pending == 0

    assert wait_until(sealed, timeout=60)
    assert audit_check().broken == []
