"""Sandbox state: users, codes, tokens, posts, faults and the call log.

Invariants: every read or write of state happens under ``Store.lock`` (re-entrant, so a handler can
hold it across a check-then-write such as the hourly share cap); post ids only grow, also across
``reset`` and restarts, so a project database that keeps status ids never sees one reused. With a
data directory the state is written to ``state.json`` (atomically, via a temporary file) after every
request that changed it, and pictures are kept as files named by their SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import string
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .config import SandboxConfig
from .seed import default_users
from .users import normalize_user

CALL_LOG_SIZE = 500
PERSISTED_CALLS = 100
CODE_TTL = 600
#: Post ids are 16-digit numbers growing with time, like Weibo's.
FIRST_POST_ID = 4990000000000000
POST_ID_EPOCH = 1704067200  # 2024-01-01T00:00:00Z
STATE_FILE = "state.json"
STATE_VERSION = 1

_ALNUM = string.ascii_letters + string.digits


def new_access_token() -> str:
    return "2.00" + "".join(secrets.choice(_ALNUM) for _ in range(30))


class Store:
    """All mutable state of one sandbox instance."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        # Probabilistic faults draw from their own generator; tests may seed it.
        self.random = random.Random()
        self.data_dir = Path(config.data_dir) if config.data_dir else None
        self.users: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.posts: list[dict] = []
        self.calls: deque[dict] = deque(maxlen=CALL_LOG_SIZE)
        self.faults: list[dict] = []
        self.last_post_id = FIRST_POST_ID - 1
        self._blobs: dict[str, bytes] = {}
        self._fault_seq = 0
        self._dirty = False
        if self.data_dir is not None:
            (self.data_dir / "pics").mkdir(parents=True, exist_ok=True)
            self._load()
        self.seed(overwrite=False)
        self.flush()

    # users -------------------------------------------------------------------------------------

    def seed(self, *, overwrite: bool) -> None:
        """Put the default users back; ``overwrite`` also undoes changes made to them."""
        now = self.clock()
        with self.lock:
            for record in default_users(now):
                if overwrite or record["idstr"] not in self.users:
                    self.users[record["idstr"]] = normalize_user(record, None, now)
            self._dirty = True

    def users_upsert(self, items: Iterable[dict]) -> list[dict]:
        """Validate every item before changing anything, so a bad list changes nothing."""
        now = self.clock()
        with self.lock:
            staged: dict[str, dict] = {}
            for item in items:
                uid = (
                    str(item.get("idstr", item.get("id", ""))).strip()
                    if isinstance(item, dict)
                    else ""
                )
                existing = staged.get(uid) or self.users.get(uid)
                user = normalize_user(item, existing, now)
                staged[user["idstr"]] = user
            self.users.update(staged)
            self._dirty = True
            return list(staged.values())

    def user_get(self, uid: str) -> dict | None:
        with self.lock:
            return self.users.get(str(uid))

    def user_by_screen_name(self, screen_name: str) -> dict | None:
        with self.lock:
            for user in self.users.values():
                if user["screen_name"] == screen_name:
                    return user
            return None

    def users_list(self) -> list[dict]:
        with self.lock:
            return sorted(self.users.values(), key=lambda user: int(user["idstr"]))

    # authorization codes ------------------------------------------------------------------------

    def code_create(self, *, client_id: str, redirect_uri: str, uid: str, scope: str) -> str:
        now = self.clock()
        code = secrets.token_hex(16)
        with self.lock:
            for key in [k for k, c in self.codes.items() if c["expires_at"] <= now]:
                del self.codes[key]
            self.codes[code] = {
                "code": code,
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "uid": uid,
                "scope": scope,
                "created_at": now,
                "expires_at": now + CODE_TTL,
                "used": False,
            }
            self._dirty = True
        return code

    def code_redeem(self, *, code: str, client_id: str, redirect_uri: str) -> dict | None:
        """Use a code once; a code sent with another client or redirect_uri stays unused."""
        now = self.clock()
        with self.lock:
            record = self.codes.get(code)
            if (
                record is None
                or record["used"]
                or record["expires_at"] <= now
                or record["client_id"] != client_id
                or record["redirect_uri"] != redirect_uri
            ):
                return None
            record["used"] = True
            self._dirty = True
            return dict(record)

    # access tokens ------------------------------------------------------------------------------

    def token_issue(self, *, uid: str, app_key: str, scope: str) -> dict:
        """Weibo hands back the same token while one is still valid for this user and app."""
        now = self.clock()
        with self.lock:
            for record in self.tokens.values():
                if (
                    record["uid"] == uid
                    and record["app_key"] == app_key
                    and not record["revoked"]
                    and record["expires_at"] > now
                ):
                    return dict(record)
            user = self.users.get(uid) or {}
            ttl = user.get("token_ttl") or self.config.token_ttl
            record = {
                "access_token": new_access_token(),
                "uid": uid,
                "app_key": app_key,
                "scope": scope,
                "created_at": int(now),
                "expires_at": int(now) + int(ttl),
                "revoked": False,
            }
            self.tokens[record["access_token"]] = record
            self._dirty = True
            return dict(record)

    def token_lookup(self, token: str | None) -> tuple[str, dict | None]:
        """``("ok"|"expired"|"revoked"|"unknown", record)``."""
        with self.lock:
            record = self.tokens.get(token or "")
            if record is None:
                return "unknown", None
            if record["revoked"]:
                return "revoked", dict(record)
            if record["expires_at"] <= self.clock():
                return "expired", dict(record)
            return "ok", dict(record)

    def _tokens_matching(self, access_token: str | None, uid: str | None) -> list[dict]:
        return [
            record
            for record in self.tokens.values()
            if (access_token is not None and record["access_token"] == access_token)
            or (uid is not None and record["uid"] == uid)
        ]

    def tokens_expire(
        self, *, access_token: str | None = None, uid: str | None = None
    ) -> list[str]:
        now = self.clock()
        with self.lock:
            records = self._tokens_matching(access_token, uid)
            for record in records:
                record["expires_at"] = min(record["expires_at"], int(now) - 1)
            self._dirty = True
            return [record["access_token"] for record in records]

    def tokens_revoke(
        self, *, access_token: str | None = None, uid: str | None = None
    ) -> list[str]:
        with self.lock:
            records = self._tokens_matching(access_token, uid)
            for record in records:
                record["revoked"] = True
            self._dirty = True
            return [record["access_token"] for record in records]

    # posts --------------------------------------------------------------------------------------

    def posts_by(self, uid: str, *, app_key: str | None = None) -> list[dict]:
        with self.lock:
            return [
                post
                for post in self.posts
                if post["uid"] == uid and (app_key is None or post["app_key"] == app_key)
            ]

    def post_add(
        self,
        *,
        uid: str,
        app_key: str,
        text: str,
        rip: str,
        pic: tuple[str, str, str, bytes] | None,
    ) -> dict:
        """Record a post; ``pic`` is (filename, content type, extension, bytes)."""
        now = self.clock()
        with self.lock:
            candidate = FIRST_POST_ID + int((now - POST_ID_EPOCH) * 1000)
            self.last_post_id = max(candidate, self.last_post_id + 1)
            pic_info = None
            if pic is not None:
                filename, content_type, ext, data = pic
                digest = hashlib.sha256(data).hexdigest()
                self._blob_put(digest, ext, data)
                pic_info = {
                    "filename": filename,
                    "content_type": content_type,
                    "ext": ext,
                    "size": len(data),
                    "sha256": digest,
                }
            post = {
                "id": self.last_post_id,
                "idstr": str(self.last_post_id),
                "uid": uid,
                "app_key": app_key,
                "text": text,
                "rip": rip,
                "created_at": now,
                "pic": pic_info,
            }
            self.posts.append(post)
            user = self.users.get(uid)
            if user is not None:
                user["statuses_count"] += 1
            self._dirty = True
            return dict(post)

    def post_get(self, post_id: str) -> dict | None:
        with self.lock:
            for post in self.posts:
                if post["idstr"] == post_id:
                    return post
            return None

    def post_delete(self, post_id: str) -> dict | None:
        """The author deletes the post on Weibo: it stays in the log, marked, and Weibo's read
        APIs no longer find it. None when there is no such post."""
        with self.lock:
            for post in self.posts:
                if post["idstr"] == post_id:
                    if not post.get("deleted_at"):
                        post["deleted_at"] = self.clock()
                        user = self.users.get(post["uid"])
                        if user is not None and user["statuses_count"] > 0:
                            user["statuses_count"] -= 1
                        self._dirty = True
                    return dict(post)
            return None

    def post_by_pid(self, pid: str) -> dict | None:
        with self.lock:
            for post in self.posts:
                if post["pic"] and post["pic"]["sha256"].startswith(pid):
                    return post
            return None

    def _blob_put(self, digest: str, ext: str, data: bytes) -> None:
        if self.data_dir is None:
            self._blobs[digest] = data
            return
        path = self.data_dir / "pics" / f"{digest}.{ext}"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)

    def pic_bytes(self, post: dict) -> bytes | None:
        pic = post.get("pic")
        if not pic:
            return None
        if self.data_dir is None:
            return self._blobs.get(pic["sha256"])
        path = self.data_dir / "pics" / f"{pic['sha256']}.{pic['ext']}"
        return path.read_bytes() if path.exists() else None

    # faults -------------------------------------------------------------------------------------

    def fault_add(self, fault: dict) -> dict:
        with self.lock:
            self._fault_seq += 1
            record = {"id": self._fault_seq, **fault}
            self.faults.append(record)
            return dict(record)

    def _faults_prune(self) -> None:
        now = self.clock()
        self.faults = [
            fault
            for fault in self.faults
            if (fault["remaining"] is None or fault["remaining"] > 0)
            and (fault["until"] is None or fault["until"] > now)
        ]

    def fault_take(self, path: str) -> dict | None:
        """The first active fault for ``path``, counting one use of it."""
        with self.lock:
            self._faults_prune()
            for fault in self.faults:
                prefix = fault["path"]
                if prefix is None:
                    hit = path.startswith("/2/") or path.startswith("/oauth2/")
                else:
                    hit = path.startswith(prefix) and not path.startswith("/_sandbox")
                if hit and self.random.random() >= fault.get("probability", 1.0):
                    continue  # this call escapes a probabilistic fault (and does not use it up)
                if hit:
                    if fault["remaining"] is not None:
                        fault["remaining"] -= 1
                    return dict(fault)
            return None

    def faults_list(self) -> list[dict]:
        with self.lock:
            self._faults_prune()
            return [dict(fault) for fault in self.faults]

    def faults_clear(self) -> int:
        with self.lock:
            count = len(self.faults)
            self.faults = []
            return count

    # call log -----------------------------------------------------------------------------------

    def call_log(self, entry: dict) -> None:
        with self.lock:
            self.calls.append(entry)
            self._dirty = True

    def calls_list(self) -> list[dict]:
        with self.lock:
            return list(self.calls)

    # lifecycle ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all activity and restore the default users; users added since are kept."""
        with self.lock:
            self.posts = []
            self.faults = []
            self.tokens = {}
            self.codes = {}
            self.calls.clear()
            self._blobs = {}
            if self.data_dir is not None:
                for path in (self.data_dir / "pics").iterdir():
                    path.unlink(missing_ok=True)
            self.seed(overwrite=True)
            self._dirty = True

    def flush(self) -> None:
        """Write ``state.json`` if anything changed; cheap when nothing did."""
        with self.lock:
            if not self._dirty or self.data_dir is None:
                self._dirty = False
                return
            snapshot = {
                "version": STATE_VERSION,
                "last_post_id": self.last_post_id,
                "users": list(self.users.values()),
                "codes": list(self.codes.values()),
                "tokens": list(self.tokens.values()),
                "posts": self.posts,
                "calls": list(self.calls)[-PERSISTED_CALLS:],
            }
            path = self.data_dir / STATE_FILE
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(snapshot, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, path)
            self._dirty = False

    def _load(self) -> None:
        assert self.data_dir is not None
        path = self.data_dir / STATE_FILE
        if not path.exists():
            return
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            users = {user["idstr"]: user for user in data["users"]}
            codes = {code["code"]: code for code in data.get("codes", [])}
            tokens = {token["access_token"]: token for token in data.get("tokens", [])}
            posts = list(data.get("posts", []))
            calls = list(data.get("calls", []))
            last_post_id = int(data.get("last_post_id", FIRST_POST_ID - 1))
        except (ValueError, KeyError, TypeError) as exc:
            # A broken file is set aside, not deleted: it may be the only record of a demo.
            broken = path.with_name(f"state.broken-{int(self.clock())}.json")
            os.replace(path, broken)
            print(
                f"weibo sandbox: unreadable {STATE_FILE} moved to {broken.name}: {exc}",
                file=sys.stderr,
            )
            return
        self.users, self.codes, self.tokens, self.posts = users, codes, tokens, posts
        self.calls.extend(calls)
        self.last_post_id = last_post_id
