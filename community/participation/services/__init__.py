"""Writes of taking part: offer claims, code pools, registrations, check-in, view counts.

Each public function is one transaction. Locks are always taken in this order (see
``community.models_participation``): the member row, then the item's ``OfferInventory`` or
``ActivitySeats`` row, then code or registration rows, then (when points are charged) loyalty's
own rows. Availability is checked only after the lock is held. Every refusal is a
``DomainError`` raised before anything was written, so a refused request changes nothing.
Real-time events go out after commit (``publish_on_commit``).
"""

from community.participation.services.activities import (
    activity_register,
    activity_seats_sync,
    attendance_recorded,
    cancellation_deadline,
    registration_cancel,
    registration_checkin,
    registration_closes,
    registration_confirm,
)
from community.participation.services.checkin import CardCheckin, activity_checkin_by_card
from community.participation.services.draws import (
    ALGORITHM,
    allocation_configure,
    commitment_of,
    draw_enter,
    draw_notify_waiting,
    draw_order,
    draw_run,
    draw_withdraw,
    draws_due,
    entries_digest,
    published_entries,
)
from community.participation.services.errors import (
    AccountStateNotAllowed,
    AlreadyEntered,
    AlreadyRegistered,
    AlreadyWaiting,
    CancellationClosed,
    CancelReasonRequired,
    CardHolderNotAdmitted,
    CardHolderNotRegistered,
    ClaimLimitReached,
    DrawClosed,
    DrawNotDue,
    DrawNotOpen,
    DrawPending,
    DrawSettingsLocked,
    HoldExpired,
    IdempotencyConflict,
    InvalidAllocation,
    InvalidCodes,
    NotADraw,
    NotCancellable,
    NotRegistered,
    OfferNotReady,
    OutsideClaimWindow,
    OutsideRegistrationWindow,
    SoldOut,
    StillAvailable,
    TierTooLow,
)
from community.participation.services.holds import allocation_of, draw_pending
from community.participation.services.item_views import (
    item_view_count,
    item_view_record,
    item_views_flush,
    viewer_tier_code,
)
from community.participation.services.offers import (
    CodeUpload,
    offer_claim,
    offer_claim_cancel,
    offer_codes_add,
    offer_inventory_sync,
    parse_codes,
)
from community.participation.services.waitlist import (
    holds_expire,
    offer_waitlist_join,
    offer_waitlist_leave,
)
from core.errors import PermissionDenied

__all__ = [
    "AccountStateNotAllowed", "AlreadyRegistered", "CancellationClosed", "CancelReasonRequired",
    "CardCheckin",
    "CardHolderNotAdmitted", "CardHolderNotRegistered",
    "ClaimLimitReached", "CodeUpload", "IdempotencyConflict", "InvalidCodes", "NotCancellable",
    "NotRegistered", "OfferNotReady", "OutsideClaimWindow", "OutsideRegistrationWindow",
    "PermissionDenied", "SoldOut", "TierTooLow",
    "activity_checkin_by_card", "activity_register", "activity_seats_sync",
    "item_view_count", "item_views_flush",
    "attendance_recorded", "cancellation_deadline", "item_view_record",
    "offer_claim", "offer_claim_cancel", "offer_codes_add", "offer_inventory_sync", "parse_codes",
    "registration_cancel", "registration_checkin", "registration_closes", "viewer_tier_code",
    "ALGORITHM", "AlreadyEntered", "AlreadyWaiting", "DrawClosed", "DrawNotDue", "DrawNotOpen",
    "DrawPending", "DrawSettingsLocked", "HoldExpired", "InvalidAllocation", "NotADraw",
    "StillAvailable", "allocation_configure", "allocation_of", "commitment_of", "draw_enter",
    "draw_notify_waiting", "draw_order", "draw_pending", "draw_run", "draw_withdraw",
    "draws_due", "entries_digest", "holds_expire", "offer_waitlist_join", "offer_waitlist_leave",
    "published_entries", "registration_confirm",
]  # fmt: skip
