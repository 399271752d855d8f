"""Weibo's rules as pure functions, and the multipart reader."""

from __future__ import annotations

import pytest

from weibo_sandbox.multipart import MultipartError, parse_multipart
from weibo_sandbox.rules import (
    has_topic,
    mentions_safe_domain,
    parse_time,
    redirect_uri_allowed,
    sniff_image,
    text_length,
    url_on_domain,
    weibo_time,
)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("", 0),
        ("好", 1),
        ("a", 1),
        ("ab", 1),
        ("abc", 2),
        ("好a", 2),
        ("http://club.test/" + "x" * 500, 10),
        ("看 https://a.test/1 和 http://b.test/2", 24),  # 23.5 rounds up
        ("好" * 130 + " http://club.test/p", 141),
        ("链接后紧跟中文http://club.test/p中文", 19),
    ],
)
def test_text_length(text, length):
    assert text_length(text) == length


@pytest.mark.parametrize(
    ("url", "domain", "ok"),
    [
        ("http://club.test/p", "club.test", True),
        ("https://m.club.test/p", "club.test", True),
        ("http://club.test:8000/p", "club.test", True),
        ("http://club.test:8000/p", "club.test:8000", True),
        ("http://club.test:8001/p", "club.test:8000", False),
        ("http://club.test/p", "club.test:80", True),
        ("https://club.test/p", "club.test:443", True),
        ("http://evilclub.test/p", "club.test", False),
        ("http://club.test.evil.test/p", "club.test", False),
        ("http://user@club.test/p", "club.test", True),
        ("http://localhost:8000/x", "localhost:8000", True),
        ("http://club.test:99999999/p", "club.test", False),
    ],
)
def test_url_on_domain(url, domain, ok):
    assert url_on_domain(url, domain) is ok


def test_mentions_safe_domain_needs_a_link():
    assert mentions_safe_domain("看 http://a.test/ 和 http://club.test/x", "club.test")
    assert not mentions_safe_domain("club.test 没有协议", "club.test")


@pytest.mark.parametrize(
    ("text", "topic"),
    [("#话题# 内容", True), ("内容 #会员日#", True), ("# 不是 #", False), ("单个#", False)],
)
def test_has_topic(text, topic):
    assert has_topic(text) is topic


@pytest.mark.parametrize(
    ("sent", "ok"),
    [
        ("http://club.test:8000/cb/", True),
        ("http://club.test:8000/cb/?next=/x", True),
        ("http://club.test:8000/cb/deeper", True),
        ("http://CLUB.test:8000/cb/", True),
        ("http://club.test:8000/c", False),
        ("http://club.test/cb/", False),
        ("https://club.test:8000/cb/", False),
        ("javascript:alert(1)", False),
        (None, False),
        ("https://other.test/", True),
    ],
)
def test_redirect_uri_allowed(sent, ok):
    registered = ["http://club.test:8000/cb/", "https://other.test"]
    assert redirect_uri_allowed(sent, registered) is ok


def test_weibo_time_round_trip():
    stamp = parse_time("2009-08-28")

    assert weibo_time(stamp) == "Fri Aug 28 00:00:00 +0800 2009"
    assert parse_time("Fri Aug 28 00:00:00 +0800 2009") == stamp
    assert parse_time("2009-08-27T16:00:00Z") == stamp
    assert parse_time(stamp) == stamp
    with pytest.raises(ValueError):
        parse_time("Fri Foo 28 00:00:00 +0800 2009")


def test_sniff_image():
    assert sniff_image(b"\xff\xd8\xff\xe0rest") == ("image/jpeg", "jpg")
    assert sniff_image(b"\x89PNG\r\n\x1a\nrest") == ("image/png", "png")
    assert sniff_image(b"GIF87a") == ("image/gif", "gif")
    assert sniff_image(b"BM not a bmp we accept") is None


def test_multipart_fields_files_and_rfc2231_names():
    status = "分享 http://club.test/\r\n第二行".encode()
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="status"\r\n\r\n' + status + b"\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="pic"; filename="a.jpg"; '
        b"filename*=UTF-8''%E5%9B%BE.jpg\r\n"
        b"Content-Type: image/jpeg\r\n\r\n"
        b"\xff\xd8\xff\r\n\r\n--Xy\r\n"
        b"\r\n--XyZ--\r\n"
    )

    fields, files = parse_multipart(body, 'multipart/form-data; boundary="XyZ"')

    assert fields == {"status": "分享 http://club.test/\r\n第二行"}
    assert files["pic"].filename == "图.jpg"
    assert files["pic"].content_type == "image/jpeg"
    assert files["pic"].data == b"\xff\xd8\xff\r\n\r\n--Xy\r\n"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b"--a\r\nContent-Disposition: form-data; name=x\r\n\r\n1",
            "multipart/form-data; boundary=a",
        ),
        (b"whatever", "multipart/form-data"),
        (b"no delimiter here", "multipart/form-data; boundary=a"),
    ],
)
def test_multipart_errors(body, content_type):
    with pytest.raises(MultipartError):
        parse_multipart(body, content_type)
