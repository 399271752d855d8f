"""Django's PostgreSQL backend with a health check that costs no round trip.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first statement of every
request that reuses a persistent connection. On a signed-in page that was one round trip in
three (the user read and the page's own read being the others). A server that goes away
(restart, ``pg_terminate_backend``, an idle timeout, PgBouncer restarting) tells the client
first: it sends a FATAL error and closes the socket, so an idle connection it has dropped has
something to read. An idle connection that is still good has nothing to read, because the
client has nothing outstanding. So checking whether the socket is readable, without waiting,
tells the two apart with no round trip; a readable or broken socket is closed and Django
connects afresh before the request's first statement, as with ``SELECT 1``.

What this cannot see is a peer that vanished without a word (a cable cut, no FIN); the
request's first statement then fails, where ``SELECT 1`` would have hung until the TCP timeout
and failed the same request.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        raw = self.connection
        if raw is None or raw.closed:
            return False
        try:
            readable, _, broken = select.select([raw.fileno()], [], [raw.fileno()], 0)
        except (OSError, ValueError, base.Database.Error):
            return False
        # Unsolicited bytes on an idle connection are the server's goodbye (or, rarely, a
        # parameter report; reconnecting then costs one connect and loses nothing).
        return not readable and not broken
