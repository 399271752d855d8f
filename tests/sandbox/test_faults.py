"""Injected faults: Weibo errors, bare gateway errors, slowness, dropped connections."""

from __future__ import annotations

import time

import pytest
import requests

from .conftest import LINK

SHARE = "/2/statuses/share.json"


@pytest.fixture
def token(sandbox):
    return sandbox.token_for("1001000012")


def test_error_for_the_next_n_calls_then_recovery(sandbox, token):
    fault = sandbox.control(
        "POST", "/faults", {"path": SHARE, "mode": "error", "error_code": 10023, "count": 2}
    )
    assert fault["remaining"] == 2

    failures = [sandbox.share(token, f"第{n}次 {LINK}") for n in range(2)]

    for response in failures:
        assert response.status_code == 403
        assert response.json() == {
            "error": "User requests out of rate limit!",
            "error_code": 10023,
            "request": SHARE,
        }
    assert sandbox.show(token, uid="1001000012").status_code == 200  # other paths untouched
    assert sandbox.share(token, f"恢复了 {LINK}").status_code == 200
    assert sandbox.control("GET", "/faults") == []
    assert sandbox.control("GET", "/posts")[0]["text"] == f"恢复了 {LINK}"


def test_error_fields_can_be_chosen(sandbox, token):
    sandbox.control(
        "POST",
        "/faults",
        {"path": SHARE, "error_code": 20016, "http_status": 400, "error": "update weibo too fast!"},
    )

    response = sandbox.share(token, f"快 {LINK}")

    assert response.status_code == 400
    assert response.json()["error"] == "update weibo too fast!"


def test_default_fault_covers_oauth_and_rest_but_never_the_control_api(sandbox):
    sandbox.control("POST", "/faults", {"mode": "error", "count": 3})

    assert sandbox.control("GET", "/health") == {"ok": True}
    token_call = sandbox.exchange("whatever")
    assert token_call.status_code == 500
    body = token_call.json()
    assert body["error_code"] == 10001 and body["error"] == "system error!"
    assert body["error_uri"] == "/oauth2/access_token"
    rest_call = requests.get(sandbox.url("/2/users/show.json"))
    assert rest_call.json()["error_code"] == 10001
    assert requests.get(sandbox.url("/oauth2/authorize")).status_code == 500
    assert len(sandbox.control("GET", "/faults")) == 0


def test_http_mode_answers_a_bare_502_page(sandbox, token):
    sandbox.control("POST", "/faults", {"path": SHARE, "mode": "http", "http_status": 502})

    response = sandbox.share(token, f"网关 {LINK}")

    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text
    with pytest.raises(ValueError):
        response.json()


def test_slow_mode_delays_then_answers_normally(sandbox, token):
    sandbox.control("POST", "/faults", {"path": SHARE, "mode": "slow", "delay": 0.5, "count": 2})

    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            sandbox.url(SHARE),
            data={"access_token": token, "status": f"超时 {LINK}", "rip": "203.0.113.7"},
            timeout=0.15,
        )
    started = time.monotonic()
    response = sandbox.share(token, f"慢 {LINK}")
    assert time.monotonic() - started >= 0.5
    assert response.status_code == 200


def test_drop_mode_closes_the_connection(sandbox, token):
    sandbox.control("POST", "/faults", {"path": SHARE, "mode": "drop"})

    with pytest.raises(requests.exceptions.ConnectionError):
        sandbox.share(token, f"断线 {LINK}")

    assert sandbox.control("GET", "/posts") == []
    assert sandbox.control("GET", f"/calls?path={SHARE}")[-1]["fault"] == "drop"
    assert sandbox.share(token, f"断线 {LINK}").status_code == 200


def test_time_window_fault(sandbox, token):
    sandbox.control("POST", "/faults", {"path": "/2/", "error_code": 10002, "seconds": 0.4})

    first = sandbox.show(token, uid="1001000012")
    second = sandbox.show(token, uid="1001000012")
    time.sleep(0.5)
    after = sandbox.show(token, uid="1001000012")

    assert first.status_code == second.status_code == 503
    assert first.json()["error_code"] == second.json()["error_code"] == 10002
    assert after.status_code == 200


def test_faults_are_listed_and_cleared(sandbox):
    sandbox.control("POST", "/faults", {"path": SHARE, "count": 5})
    sandbox.control("POST", "/faults", [{"mode": "slow", "seconds": 60}, {"mode": "drop"}])

    listed = sandbox.control("GET", "/faults")

    assert [fault["mode"] for fault in listed] == ["error", "slow", "drop"]
    assert sandbox.control("DELETE", "/faults") == {"cleared": 3}
    assert sandbox.control("GET", "/faults") == []


@pytest.mark.parametrize(
    "spec",
    [
        {"mode": "explode"},
        {"path": "/_sandbox/posts"},
        {"count": 0},
        {"seconds": -1},
        {"colour": "red"},
    ],
)
def test_bad_fault_specs_are_refused(sandbox, spec):
    response = requests.post(sandbox.url("/_sandbox/faults"), json=spec)

    assert response.status_code == 400 and response.json()["error"]
