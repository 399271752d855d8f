"""Script written by members (or by a Weibo user, or pasted by staff) never runs in a browser.

Each payload goes in through the real entry point (a member's form, the Weibo login, the admin
page editor) and every page that shows it is parsed: no ``<script>`` element, no event-handler
attribute and no ``javascript:`` link may come out of it, and the raw tag text never appears.
"""

from __future__ import annotations

import json

import bs4
import pytest
import requests
from django.test import Client
from wagtail.test.utils.form_data import querydict_from_html

from community import demo
from community.models import CommunityHome, PostPage
from community.models_interaction import Comment
from members.models import AdmissionSettings, Member
from tests.factories import MemberFactory, StaffFactory
from tests.members.weibo_flow import accept_consent, weibo_login

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
LINK = '<a href="javascript:alert(1)">点我</a>'
PAYLOAD = f"{SCRIPT} {IMG} {LINK} javascript:alert(1)"
RAW_TAGS = ("<script>alert(1)", "<img src=x", '<a href="javascript:')
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


def assert_neutralised(html: str, where: str = "") -> None:
    """The page carries no live script from a payload (our own scripts have no alert(1))."""
    for raw in RAW_TAGS:
        assert raw not in html, f"{where}: raw {raw!r} in the HTML"
    soup = bs4.BeautifulSoup(html, "html.parser")
    for script in soup.find_all("script"):
        assert "alert(1)" not in script.get_text(), f"{where}: payload inside <script>"
    for element in soup.find_all(True):
        for name, value in element.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            assert not name.lower().startswith("on") or "alert" not in text, (
                f"{where}: event handler {name}={text!r} on <{element.name}>"
            )
            if name.lower() in ("href", "src", "action", "formaction"):
                assert not text.strip().lower().startswith("javascript:"), (
                    f"{where}: {name}={text!r} on <{element.name}>"
                )


def page_html(client: Client, url: str) -> str:
    response = client.get(url, follow=True)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.fixture
def home(tiers):
    demo.load_structure()
    return CommunityHome.objects.get()


@pytest.fixture
def post(home, tiers):
    page = PostPage(title="会员文章", slug="member-post", summary="摘要", access="members",
                    body=[("paragraph", "<p>正文</p>")])  # fmt: skip
    home.add_child(instance=page)
    page.save_revision().publish()
    return page


def test_comments_and_replies_are_escaped_everywhere_they_are_shown(client, post, tiers, staff):
    writer = MemberFactory(tier=tiers["gold"], display_name="写评论的人")
    reader = MemberFactory(tier=tiers["gold"])
    client.force_login(writer.user)
    url = f"/interaction/items/{post.pk}/comments/"
    assert client.post(url, {"body": PAYLOAD}).status_code == 302
    top = Comment.objects.get()
    assert client.post(url, {"body": "回复 " + PAYLOAD, "parent": top.pk}).status_code == 302
    assert Comment.objects.filter(parent=top).exists()
    assert SCRIPT in top.body  # stored as written: escaping is the job of every page

    assert_neutralised(page_html(client, post.url), "item page, author")
    assert_neutralised(page_html(client, f"/interaction/comments/{top.pk}/edit/"), "edit page")
    reader_client = Client()
    reader_client.force_login(reader.user)
    html = page_html(reader_client, post.url)
    assert ESCAPED_SCRIPT in html  # the comment is shown, as text
    assert_neutralised(html, "item page, other member")
    reported = reader_client.post(
        f"/interaction/comments/{top.pk}/report/", {"reason": "spam", "detail": PAYLOAD}
    )
    assert reported.status_code == 302

    staff_client = Client()
    staff_client.force_login(staff)
    assert_neutralised(page_html(staff_client, "/admin/community/moderation/"), "queue")
    html = page_html(staff_client, f"/admin/community/moderation/{top.pk}/")
    assert "alert(1)" in html
    assert_neutralised(html, "moderation detail")


def test_a_draft_kept_after_a_refusal_is_escaped_in_the_form(client, post, tiers):
    """A comment over the length limit is refused and kept as a draft in the textarea."""
    writer = MemberFactory(tier=tiers["gold"])
    client.force_login(writer.user)
    too_long = PAYLOAD + "字" * 5000
    response = client.post(f"/interaction/items/{post.pk}/comments/", {"body": too_long},
                           follow=True)  # fmt: skip
    assert not Comment.objects.exists()
    html = response.content.decode()
    assert ESCAPED_SCRIPT in html
    assert_neutralised(html, "item page with draft")


def test_application_text_is_escaped_for_the_applicant_and_for_staff(client, tiers, staff):
    settings_ = AdmissionSettings.load()
    settings_.approval_enabled = True
    settings_.save()
    applicant = MemberFactory(state=Member.State.APPLICANT, tier=None, joined_at=None)
    client.force_login(applicant.user)
    response = client.post("/members/join/apply/", {"message": PAYLOAD}, follow=True)
    assert applicant.application.message == PAYLOAD
    assert_neutralised(response.content.decode(), "join page")

    staff_client = Client()
    staff_client.force_login(staff)
    html = page_html(staff_client, "/admin/members/applications/")
    assert ESCAPED_SCRIPT in html
    assert_neutralised(html, "application queue")
    assert_neutralised(page_html(staff_client, f"/admin/members/{applicant.pk}/"), "detail")


def test_weibo_profile_text_is_escaped_on_every_page_that_shows_it(
    client, weibo_sandbox, landing_site, post, tiers
):
    """Nickname, location and verification text come from Weibo: anyone can set them there."""
    uid = "1009990001"
    requests.post(
        f"{weibo_sandbox}/_sandbox/users",
        json={"idstr": uid, "screen_name": f"坏人{SCRIPT}", "location": IMG,
              "description": LINK, "verified_reason": SCRIPT},
        timeout=5,
    ).raise_for_status()  # fmt: skip
    settings_ = AdmissionSettings.load()
    settings_.default_tier = tiers["gold"]
    settings_.save()
    response = weibo_login(client, uid=uid)
    assert_neutralised(response.content.decode(), "consent page")
    accept_consent(client)
    member = Member.objects.get(weibo_uid=uid)
    assert SCRIPT in member.display_name
    member.state, member.tier = Member.State.MEMBER, tiers["gold"]
    member.save(update_fields=["state", "tier"])

    assert_neutralised(page_html(client, "/members/me/"), "me page")
    client.post(f"/interaction/items/{post.pk}/comments/", {"body": "你好 @" + member.display_name})
    assert_neutralised(page_html(client, post.url), "comment author name")

    staff_client = Client()
    staff_client.force_login(StaffFactory())
    assert_neutralised(page_html(staff_client, "/admin/members/"), "member list")
    html = page_html(staff_client, f"/admin/members/{member.pk}/")
    assert ESCAPED_SCRIPT in html
    assert_neutralised(html, "member detail")


def test_search_query_is_not_reflected_as_markup(client, post, member):
    client.force_login(member.user)
    response = client.get("/search/", {"q": PAYLOAD})
    assert response.status_code == 200
    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_neutralised(html, "search")


def contentstate(text: str, link_text: str, url: str) -> str:
    """Draftail's JSON for one paragraph ending in a link, as the editor would submit it."""
    full = f"{text} {link_text}"
    return json.dumps({
        "blocks": [{
            "key": "xss01", "type": "unstyled", "depth": 0, "text": full,
            "inlineStyleRanges": [], "data": {},
            "entityRanges": [{"offset": len(text) + 1, "length": len(link_text), "key": 0}],
        }],
        "entityMap": {"0": {"type": "LINK", "mutability": "MUTABLE", "data": {"url": url}}},
    })  # fmt: skip


def test_staff_rich_text_cannot_carry_script_into_a_post(client, post, member, staff):
    """A paragraph submitted through the page editor with script text and a javascript: link."""
    staff_client = Client()
    staff_client.force_login(staff)
    edit_url = f"/admin/pages/{post.pk}/edit/"
    form = querydict_from_html(page_html(staff_client, edit_url), form_id="page-edit-form")
    for key in [key for key in form if key.startswith("body-")]:
        del form[key]
    form.update({
        "body-count": "1", "body-0-type": "paragraph", "body-0-deleted": "", "body-0-order": "0",
        "body-0-value": contentstate(f"{SCRIPT} {IMG}", "点我", "javascript:alert(1)"),
        "action-publish": "action-publish",
    })  # fmt: skip
    response = staff_client.post(edit_url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    post.refresh_from_db()
    assert "alert(1)" in str(post.body[0].value.source)  # the text is kept, as text

    client.force_login(member.user)
    html = page_html(client, post.url)
    assert "点我" in html and ESCAPED_SCRIPT in html
    assert_neutralised(html, "published post")
