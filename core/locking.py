"""Row locks in one order, for every service of every app.

The order, written once::

    member → points account → stock → codes → audit

- **member**: the ``Member`` row (and rows that belong to one member's admission, such as their
  application), locked ``FOR NO KEY UPDATE``;
- **points account**: the member's ``PointsAccount`` (the cached balance, and through it the
  ledger, lots and pending awards of that account);
- **stock**: a counter shared by many members: ``Reward.issued``, ``OfferInventory``,
  ``ActivitySeats``;
- **codes**: single-use codes handed out from a pool or redeemed once: ``CouponCode``,
  ``OfferCode``, ``InvitationCode``, ``CustomerRecord`` (membership numbers);
- **audit**: the audit chain's sealer (``core.audit.audit_seal``). A member action never takes
  it: ``audit_record`` appends a row without any lock.

A transaction takes its locks in that order and never goes back to an earlier kind, with one
exception: locking a row it already holds (a nested service re-locking the same account) waits
for nobody. Two transactions that follow the order cannot wait for each other in a cycle, so
they cannot deadlock. Rows of one kind are locked in primary-key order.

A service that calls another app's service inside its transaction inherits the callee's locks
and must take its own earlier kinds first (an offer claim locks the member and the points
account before the offer's stock, because the points price locks the account later); its
docstring says so, and a race test runs the two paths against each other.

A counter many members share is best locked last and briefly: ``lock_execute`` runs one
conditional ``UPDATE ... RETURNING`` at its level (a redemption reserves its unit of stock so,
just before commit, after the account lock and the ledger work it protects).

Like pretix's ``lock_objects``: refused outside a transaction, and every wait is bounded by
``SET LOCAL lock_timeout``; a lock not granted in time becomes ``core.errors.Busy``, a domain
error the views show as "try again", never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

from django.db import OperationalError, connection
from django.db.models import Model, QuerySet

from core.errors import Busy

LOCK_TIMEOUT_MS = 5000
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock_timeout (and of NOWAIT)


class Lock(IntEnum):
    """The kinds of lock, in the order a transaction must take them."""

    MEMBER = 10
    POINTS_ACCOUNT = 20
    STOCK = 30
    CODES = 40
    AUDIT = 50


class LockOrderError(RuntimeError):
    """A programming error: locks requested against the written order, or outside a transaction."""


def _require_transaction() -> None:
    if not connection.in_atomic_block:
        raise LockOrderError("locks are taken inside transaction.atomic() only")


@contextmanager
def _busy_on_timeout() -> Iterator[None]:
    try:
        yield
    except OperationalError as error:
        if getattr(error.__cause__, "pgcode", None) == LOCK_NOT_AVAILABLE:
            raise Busy from error
        raise


def _set_timeout(timeout_ms: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = {int(timeout_ms)}")


def lock_rows(
    *steps: tuple[Lock, QuerySet], timeout_ms: int = LOCK_TIMEOUT_MS
) -> list[list[Model]]:
    """Lock each step's rows, steps in the written order; the locked rows of each step.

    A queryset without ``select_for_update`` is locked ``FOR NO KEY UPDATE OF`` its own table
    (what an ``UPDATE`` of the row takes anyway, so inserts that reference it are not blocked);
    one with ``select_for_update`` keeps its options (``skip_locked``, ``of``). A queryset with
    no ordering is locked in primary-key order.
    """
    _require_transaction()
    levels = [level for level, _ in steps]
    if levels != sorted(levels):
        raise LockOrderError(f"locks out of order: {[Lock(level).name for level in levels]}")
    _set_timeout(timeout_ms)
    locked: list[list[Model]] = []
    with _busy_on_timeout():
        for _level, queryset in steps:
            if not queryset.query.select_for_update:
                queryset = queryset.select_for_update(no_key=True, of=("self",))
            if not queryset.ordered and not queryset.query.is_sliced:
                queryset = queryset.order_by("pk")
            locked.append(list(queryset))
    return locked


def lock_one(level: Lock, queryset: QuerySet, *, timeout_ms: int = LOCK_TIMEOUT_MS):
    """The first row of ``queryset``, locked (see ``lock_rows``), or None."""
    if not queryset.query.is_sliced:
        queryset = (queryset if queryset.ordered else queryset.order_by("pk"))[:1]
    rows = lock_rows((level, queryset), timeout_ms=timeout_ms)[0]
    return rows[0] if rows else None


def lock_execute(
    level: Lock, sql: str, params: list, *, timeout_ms: int = LOCK_TIMEOUT_MS
) -> list[tuple]:
    """Run one statement that locks rows at ``level`` of the order; its rows.

    For a row many members contend for, held from this statement until commit: a conditional
    ``UPDATE ... RETURNING`` that reserves a unit of stock (no rows: none left), or an ``UPDATE``
    of one row picked ``FOR UPDATE SKIP LOCKED`` from a pool of codes. A service runs it last,
    after the locks of earlier kinds and the work they protect, so the shared row is held for
    one statement and the commit. The timeout is set in the same round trip.
    """
    _require_transaction()
    with _busy_on_timeout(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = {int(timeout_ms)}; {sql}", params)
        return cursor.fetchall()


def lock_key(
    level: Lock, space: int, key: int, *, wait: bool = True, timeout_ms: int = LOCK_TIMEOUT_MS
) -> bool:
    """A transaction-level advisory lock on ``(space, key)`` taken at ``level`` of the order, for
    what has no row to lock; ``space`` is a constant of the caller's own.

    With ``wait=False`` it does not wait: False when another transaction holds it.
    """
    _require_transaction()
    with _busy_on_timeout(), connection.cursor() as cursor:
        if not wait:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [int(space), int(key)])
            return bool(cursor.fetchone()[0])
        _set_timeout(timeout_ms)
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [int(space), int(key)])
    return True
