"""Consent texts edited by staff in the admin: draft, review by a second person, publish.

Through the admin's own screens: a draft in both languages, submitted, approved by another
staff member; members who accepted the previous version are asked again on their next visit
only when the change is material; the reviewer reads a diff; published versions never change;
every step is in the audit trail; only the roles that should may do each step.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from core import roles
from core.models import AuditEntry
from members import selectors
from members.models import Consent, ConsentText, Member
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/members/consent/"
NEW_URL = "/admin/members/consent/new/"
ME_URL = "/members/me/"
PRIVACY_URL = "/members/me/privacy/"

NEW_BODY = (
    "我们会从微博读取：您的微博昵称、头像、所在地。\n"
    "为什么需要：用于识别您的身份。\n"
    "新增：分享卡片会使用您的头像。"
)
NEW_BODY_EN = (
    "We read from Weibo: your screen name, avatar and location.\n"
    "Why: to know who you are.\n"
    "New: share cards use your avatar."
)


def url(pk: int, action: str = "") -> str:
    return f"{LIST_URL}{pk}/{action + '/' if action else ''}"


@pytest.fixture
def staff():
    """One user per role, the roles brought in line as after ``migrate``."""
    roles.roles_sync()
    users = {}
    for role in roles.ALL_ROLES:
        user = UserFactory(is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


@pytest.fixture
def first_text() -> ConsentText:
    return selectors.current_consent_text()


@pytest.fixture
def member(first_text) -> Member:
    """A member who accepted the first version (the factory records it)."""
    member = MemberFactory()
    assert Consent.objects.filter(member=member, text=first_text).exists()
    return member


def draft_data(**overrides) -> dict:
    data = {
        "title": "微博授权说明（2027 版）",
        "body": NEW_BODY,
        "title_en": "Weibo authorisation (2027)",
        "body_en": NEW_BODY_EN,
        "material": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def draft(client, author, **overrides) -> ConsentText:
    client.force_login(author)
    response = client.post(NEW_URL, draft_data(**overrides))
    assert response.status_code == 302, response.content[:500]
    return ConsentText.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def submit(client, author, text: ConsentText):
    client.force_login(author)
    return client.post(url(text.pk, "submit"))


def review(client, reviewer, text: ConsentText, decision: str, comment: str = ""):
    client.force_login(reviewer)
    return client.post(url(text.pk, "review"), {"decision": decision, "comment": comment})


def publish(client, staff, **overrides) -> ConsentText:
    """Marketing drafts and submits; compliance approves and publishes."""
    text = draft(client, staff[roles.MARKETING_EDITOR], **overrides)
    submit(client, staff[roles.MARKETING_EDITOR], text)
    review(client, staff[roles.COMPLIANCE_OFFICER], text, "approve", "法务已确认")
    text.refresh_from_db()
    return text


def test_draft_in_both_languages_reviewed_by_another_and_published(client, staff, first_text):
    author, reviewer = staff[roles.MARKETING_EDITOR], staff[roles.COMPLIANCE_OFFICER]
    text = draft(client, author)
    assert text.state == ConsentText.State.DRAFT and text.version is None
    assert (text.title_en, text.body_en) == ("Weibo authorisation (2027)", NEW_BODY_EN)
    assert selectors.current_consent_text() == first_text  # a draft changes nothing for members

    assert submit(client, author, text).status_code == 302
    text.refresh_from_db()
    assert text.state == ConsentText.State.IN_REVIEW
    page = client.get(url(text.pk)).content.decode()
    assert "通过并发布" not in page  # the author holds no publishing right

    response = review(client, reviewer, text, "approve", "法务已确认")
    assert response.status_code == 302
    text.refresh_from_db()
    assert text.state == ConsentText.State.PUBLISHED
    assert text.version == first_text.version + 1 and text.reviewed_by == reviewer
    assert selectors.current_consent_text() == text


def test_the_author_cannot_approve_their_own_draft(client, staff):
    officer = staff[roles.COMPLIANCE_OFFICER]
    text = draft(client, officer)
    submit(client, officer, text)
    response = review(client, officer, text, "approve")
    assert response.status_code == 302
    text.refresh_from_db()
    assert text.state == ConsentText.State.IN_REVIEW
    page = client.get(url(text.pk)).content.decode()
    assert "不能审核它" in page

    # Nor may someone who edited it along the way: every writer is out.
    other = UserFactory(is_staff=True)
    other.groups.add(Group.objects.get(name=roles.COMPLIANCE_OFFICER))
    second = draft(client, officer)
    client.force_login(other)
    client.post(url(second.pk, "edit"), draft_data(title="改过的标题"))
    submit(client, officer, second)
    review(client, other, second, "approve")
    second.refresh_from_db()
    assert second.state == ConsentText.State.IN_REVIEW


def test_rejection_sends_the_draft_back_with_a_comment(client, staff):
    author, reviewer = staff[roles.MARKETING_EDITOR], staff[roles.COMPLIANCE_OFFICER]
    text = draft(client, author)
    submit(client, author, text)

    review(client, reviewer, text, "reject", "")  # a rejection must say why
    text.refresh_from_db()
    assert text.state == ConsentText.State.IN_REVIEW

    review(client, reviewer, text, "reject", "请写明头像的保存期限")
    text.refresh_from_db()
    assert text.state == ConsentText.State.DRAFT
    client.force_login(author)
    page = client.get(url(text.pk)).content.decode()
    assert "请写明头像的保存期限" in page
    response = client.post(url(text.pk, "edit"), draft_data(body=NEW_BODY + "\n头像保存至您退出。"))
    assert response.status_code == 302
    text.refresh_from_db()
    assert text.body.endswith("头像保存至您退出。")


def test_a_material_change_asks_members_again_on_their_next_visit(client, staff, member):
    client.force_login(member.user)
    assert client.get(ME_URL).status_code == 200

    publish(client, staff)

    client.force_login(member.user)
    response = client.get(ME_URL)
    assert response.status_code == 302 and response["Location"] == "/members/consent/"
    page = client.get("/members/consent/").content.decode()
    assert "微博授权说明（2027 版）" in page and "新增：分享卡片会使用您的头像。" in page
    response = client.post("/members/consent/", {"decision": "accept"})
    assert response.status_code == 302 and response["Location"] == ME_URL  # where they were going
    assert client.get(ME_URL).status_code == 200
    assert sorted(member.consents.values_list("text__version", flat=True)) == [1, 2]


def test_a_version_published_while_the_member_reads_is_not_accepted_unseen(
    client, staff, member, first_text
):
    publish(client, staff)
    client.force_login(member.user)
    shown_before = {"decision": "accept", "version": str(first_text.version)}
    response = client.post("/members/consent/", shown_before)
    assert response.status_code == 302 and response["Location"] == "/members/consent/"
    assert list(member.consents.values_list("text__version", flat=True)) == [1]
    page = client.get("/members/consent/").content.decode()
    assert "授权说明刚刚更新" in page and 'name="version" value="2"' in page


def test_a_non_material_change_does_not_ask_again_but_shows_the_new_text(
    client, staff, member, first_text
):
    fixed = publish(client, staff, body=first_text.body.replace("我们", "本俱乐部"), material=None)
    assert fixed.material is False and fixed.state == ConsentText.State.PUBLISHED

    client.force_login(member.user)
    assert client.get(ME_URL).status_code == 200  # not asked again
    page = client.get(PRIVACY_URL).content.decode()
    assert "本俱乐部会从微博读取" in page  # the current text
    assert "同意了版本 1" in page and "您的同意继续有效" in page
    assert list(member.consents.values_list("text__version", flat=True)) == [1]

    # A draft copied from the typo fix starts as material again: not asking is decided anew.
    client.force_login(staff[roles.MARKETING_EDITOR])
    form = client.get(f"{NEW_URL}?from={fixed.pk}").content.decode()
    assert "checked" in form.split('name="material"')[1].split(">")[0]

    # A material change after it asks again, even though the member never saw the typo fix.
    publish(client, staff)
    client.force_login(member.user)
    assert client.get(ME_URL).status_code == 302


def test_members_read_their_language_falling_back_to_chinese(client, staff, member):
    publish(client, staff)
    client.force_login(member.user)
    client.cookies["django_language"] = "en"
    page = client.get("/members/consent/").content.decode()
    assert "New: share cards use your avatar." in page and "新增" not in page

    publish(client, staff, title="仅中文的版本", title_en="", body_en="")
    client.force_login(member.user)
    page = client.get("/members/consent/").content.decode()
    assert "仅中文的版本" in page


def test_the_diff_shows_what_changed_per_language_escaped(client, staff, first_text):
    text = draft(
        client,
        staff[roles.MARKETING_EDITOR],
        body=first_text.body.replace("粉丝数", "粉丝数<script>x</script>"),
        body_en="Only English.",
    )
    client.force_login(staff[roles.COMPLIANCE_OFFICER])
    page = client.get(url(text.pk, "compare")).content.decode()
    zh = page.split('data-testid="diff-zh-hans"')[1].split("</section>")[0]
    assert "<ins>&lt;script&gt;x&lt;/script&gt;</ins>" in zh
    assert "<script>x</script>" not in page
    assert "− 我们会从微博读取" in zh  # the old line, marked removed
    en = page.split('data-testid="diff-en"')[1].split("</section>")[0]
    assert "+ Only English." in en
    assert f"从「{first_text}」到" in page


def test_a_published_version_cannot_be_edited_only_copied(client, staff, first_text):
    published = publish(client, staff)
    before = (published.title, published.body, published.version)
    for user in (staff[roles.MARKETING_EDITOR], staff[roles.ADMINISTRATOR]):
        client.force_login(user)
        response = client.post(url(published.pk, "edit"), draft_data(title="偷偷修改"), follow=True)
        assert "已发布的版本不能修改" in response.content.decode()
        published.refresh_from_db()
        assert (published.title, published.body, published.version) == before

    response = client.get(f"{NEW_URL}?from={published.pk}")
    assert "微博授权说明（2027 版）" in response.content.decode()
    response = client.post(NEW_URL, {**draft_data(title="2027 版修订"), "from": published.pk})
    copy = ConsentText.objects.get(title="2027 版修订")
    assert copy.state == ConsentText.State.DRAFT and copy.based_on == published
    published.refresh_from_db()
    assert published.title == before[0]


def test_every_step_is_in_the_audit_trail(client, staff):
    author, reviewer = staff[roles.MARKETING_EDITOR], staff[roles.COMPLIANCE_OFFICER]
    text = draft(client, author)
    client.post(url(text.pk, "edit"), draft_data(title="改过一次"))
    submit(client, author, text)
    review(client, reviewer, text, "reject", "再改改")
    submit(client, author, text)
    review(client, reviewer, text, "approve", "可以")

    entries = AuditEntry.objects.filter(target_type="members.ConsentText", target_id=str(text.pk))
    actions = list(entries.order_by("id").values_list("action", "actor_id"))
    assert actions == [
        ("consent_text.created", author.pk),
        ("consent_text.edited", author.pk),
        ("consent_text.submitted", author.pk),
        ("consent_text.rejected", reviewer.pk),
        ("consent_text.submitted", author.pk),
        ("consent_text.approved", reviewer.pk),
        ("consent_text.published", reviewer.pk),
    ]
    edited = entries.get(action="consent_text.edited")
    assert edited.before["title"] == "微博授权说明（2027 版）"
    assert edited.after["title"] == "改过一次"
    assert entries.get(action="consent_text.rejected").reason == "再改改"
    published = entries.get(action="consent_text.published")
    assert published.after["version"] == 2 and published.after["material"] is True
    assert published.before == {"current_version": 1}
    page = client.get(url(text.pk)).content.decode()
    assert "consent_text.published" in page.split('data-testid="consent-history"')[1]


def test_roles_each_do_their_step_and_nothing_more(client, staff, first_text, member):
    # Who may open the list (any consent right) and draft (add).
    readers = {roles.MARKETING_EDITOR, roles.COMPLIANCE_OFFICER, roles.AUDITOR,
               roles.ADMINISTRATOR}  # fmt: skip
    drafters = {roles.MARKETING_EDITOR, roles.COMPLIANCE_OFFICER, roles.ADMINISTRATOR}
    for role, user in staff.items():
        client.force_login(user)
        assert (client.get(LIST_URL).status_code == 200) == (role in readers), role
        assert (client.get(NEW_URL).status_code == 200) == (role in drafters), role
        response = client.post(NEW_URL, draft_data(title=f"{role}的草稿"))
        assert (response.status_code == 302) == (role in drafters), role
    drafts = ConsentText.objects.filter(title__endswith="的草稿")
    assert set(drafts.values_list("created_by__groups__name", flat=True)) == drafters

    # Only compliance and administrators approve; marketing may not, even someone else's draft.
    text = draft(client, staff[roles.ADMINISTRATOR])
    submit(client, staff[roles.ADMINISTRATOR], text)
    for role in (roles.MARKETING_EDITOR, roles.MEMBER_MANAGER, roles.AUDITOR, roles.MODERATOR):
        assert review(client, staff[role], text, "approve").status_code == 403, role
    text.refresh_from_db()
    assert text.state == ConsentText.State.IN_REVIEW

    # A member, or a staff user without any role, is not let into the admin at all (Wagtail sends
    # them to its login page) and changes nothing.
    nobody = UserFactory(is_staff=True)
    for outsider in (nobody, member.user):
        client.force_login(outsider)
        for response in (
            client.get(LIST_URL),
            client.post(NEW_URL, draft_data(title="无权限")),
            client.post(url(text.pk, "review"), {"decision": "approve"}),
        ):
            assert response.status_code == 302
            assert response["Location"].startswith("/accounts/login/")
    text.refresh_from_db()
    assert text.state == ConsentText.State.IN_REVIEW
    assert not ConsentText.objects.filter(title="无权限").exists()

    review(client, staff[roles.COMPLIANCE_OFFICER], text, "approve")
    text.refresh_from_db()
    assert text.state == ConsentText.State.PUBLISHED
