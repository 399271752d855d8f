"""A partner's till, through the real HTTP API: link a member, accrue, hold, capture, void, refund.

Everything goes over HTTP with signed requests (``partners.signing``, which has no Django
import, so this file is what a partner's integration looks like). Linking needs the member:
the simulator asks for a link code, prints it and the link URL, and waits until the member
confirms it on the site (我的 → 合作伙伴); a test passes ``confirm`` to do that step itself.

Against the demo (``./run``; staff issue a key under 管理后台 → 合作伙伴 → 接口密钥)::

    .venv/bin/python -m bench.partner_simulator --base-url http://127.0.0.1:8000 \\
        --key-id pk_... --secret ...

Then the member's 积分明细 (/points/history/) shows each step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from partners import signing

API = "/api/partner/v1"


class ApiError(RuntimeError):
    def __init__(self, status: int, body: Any):
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body


@dataclass
class PartnerApi:
    base_url: str
    key_id: str
    secret: str
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, payload: dict | None = None, *,
             write: bool = False) -> tuple[int, dict]:  # fmt: skip
        """One signed request; writes get a fresh Idempotency-Key. (status, JSON body)."""
        url = self.base_url.rstrip("/") + API + path
        body = json.dumps(payload).encode() if payload is not None else b""
        parts = urlsplit(url)
        headers = signing.sign_headers(
            key_id=self.key_id, secret=self.secret, method=method, path=parts.path,
            query=parts.query, body=body,
        )  # fmt: skip
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if write:
            headers["Idempotency-Key"] = f"sim-{uuid.uuid4().hex}"
        response = self.session.request(method, url, data=body, headers=headers, timeout=30)
        return response.status_code, response.json()

    def ok(self, method: str, path: str, payload: dict | None = None, *, write: bool = False):
        status, body = self.call(method, path, payload, write=write)
        if status >= 300:
            raise ApiError(status, body)
        return body


def wait_for_member(api: PartnerApi, request_id: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.ok("GET", f"/link-requests/{request_id}")
        if state["member_id"]:
            return state["member_id"]
        time.sleep(1.0)
    raise TimeoutError("the member did not confirm the link code in time")


def simulate(
    api: PartnerApi,
    *,
    confirm: Callable[[str, str], None] | None = None,
    wait_seconds: float = 600,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the whole life of a linked member at a partner; what happened, step by step."""
    created = api.ok("POST", "/link-requests", {"partner_reference": "SIM-GUEST"}, write=True)
    log(f"link code {created['code']} — or open {created['link_url']}")
    if confirm is not None:
        confirm(created["code"], created["link_url"])
    member_id = wait_for_member(api, created["request_id"], wait_seconds)
    log(f"linked: {member_id}")
    member = api.ok("GET", f"/members/{member_id}")
    log(f"lookup: {member}")

    accrual = api.ok("POST", f"/members/{member_id}/accruals",
                     {"amount": 500, "reference": "SIM-STAY-1"}, write=True)  # fmt: skip
    log(f"accrued 500, {accrual['state']}")
    accrual = api.ok("POST", f"/accruals/{accrual['accrual_id']}/confirm", write=True)
    log(f"confirmed: {accrual['state']}")

    captured = api.ok("POST", f"/members/{member_id}/holds",
                      {"amount": 200, "reference": "SIM-ORDER-1"}, write=True)  # fmt: skip
    captured = api.ok("POST", f"/holds/{captured['hold_id']}/capture", write=True)
    log(f"held and captured 200: {captured['state']}")
    voided = api.ok("POST", f"/members/{member_id}/holds",
                    {"amount": 100, "reference": "SIM-ORDER-2"}, write=True)  # fmt: skip
    voided = api.ok("POST", f"/holds/{voided['hold_id']}/void", write=True)
    log(f"held and voided 100: {voided['state']}")
    refunded = api.ok("POST", f"/holds/{captured['hold_id']}/refund", write=True)
    log(f"refunded the captured 200: {refunded['state']}")
    return {
        "member_id": member_id,
        "member": member,
        "accrual": accrual,
        "captured_then_refunded": refunded,
        "voided": voided,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for the member")
    args = parser.parse_args(argv)
    api = PartnerApi(args.base_url, args.key_id, args.secret)
    try:
        simulate(api, wait_seconds=args.wait)
    except ApiError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
