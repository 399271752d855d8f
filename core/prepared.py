"""Querysets compiled once and run many times.

Building a statement through the ORM (resolving joins, choosing columns, quoting names) costs
more than running it when the statement is small and the database is near: the user, member
and tier read on every signed-in request spent about two thirds of its time in Django's SQL
compiler. ``PreparedQuery`` compiles a queryset once per process and then only binds new
parameter values, runs the SQL and builds the instances exactly as the ORM does (the same
converters, ``from_db`` and ``select_related`` population), so callers get ordinary model
instances.

PostgreSQL plans a statement on every run, and for a join of wide tables planning took longer
than executing (0.34 ms against 0.09 ms for the user read). So on a direct connection the
statement is also prepared on the server (``PREPARE``, once per connection) and run with
``EXECUTE``, which reuses the plan. Behind PgBouncer in transaction mode
(``DISABLE_SERVER_SIDE_CURSORS``, set by ``DATABASE_POOLER=transaction``) a session's prepared
statements may sit on another server connection, so the plain statement is sent instead.

Only for querysets whose shape never changes between calls: the parameters are the only
variable part. A placeholder value marks each parameter at compile time.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

# A parameter's stand-in at compile time: values no real row has, found again by value in the
# compiled parameters (fields convert what they are given to plain ``int`` or ``str``).
_MARK_BASE = -2_147_000_000  # inside every integer column's range (Django refuses others)
_TEXT_MARK = "\ufffeprepared-parameter-{}"


def _marks(types: tuple[type, ...]) -> list:
    return [_MARK_BASE + n if kind is int else _TEXT_MARK.format(n) for n, kind in enumerate(types)]


_names = itertools.count(1)


def _numbered(sql: str) -> str:
    """psycopg2's ``%s`` placeholders as PostgreSQL's ``$1``, ``$2``… (``%%`` is a literal %)."""
    counter = itertools.count(1)
    return re.sub(r"%[s%]", lambda m: "%" if m.group() == "%%" else f"${next(counter)}", sql)


def _prepared_names(wrapper) -> set[str]:
    """Statements prepared on the wrapper's current server connection (a new connection
    starts with none: ``PREPARE`` lives as long as the server session)."""
    raw = wrapper.connection
    state = getattr(wrapper, "_club_prepared", None)
    if state is None or state[0] is not raw:
        state = wrapper._club_prepared = (raw, set())
    return state[1]


_statement_names: dict[str, str] = {}
_statement_lock = threading.Lock()


def _statement_name(sql: str) -> str:
    name = _statement_names.get(sql)
    if name is None:
        with _statement_lock:
            name = _statement_names.setdefault(sql, f"club_prepared_{next(_names)}")
    return name


def fetchone_prepared(
    sql: str, params: list | tuple, *, using: str = "default", prepare_too: tuple[str, ...] = ()
) -> tuple | None:
    """Run ``sql`` (psycopg2 placeholders) and return its first row, prepared on the server
    once per connection when the connection allows it (see the module's docstring).

    ``prepare_too``: statements to prepare in the same round trip when ``sql`` is prepared,
    for a statement that is usually run first and another that follows it on later requests.
    """
    wrapper = connections[using]
    with wrapper.cursor() as cursor:
        if not params or wrapper.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
            cursor.execute(sql, params)
            return cursor.fetchone()
        name = _statement_name(sql)
        prepared = _prepared_names(wrapper)
        if name not in prepared:
            batch = {name: sql}
            for other in prepare_too:
                if _statement_name(other) not in prepared:
                    batch[_statement_name(other)] = other
            cursor.execute("; ".join(f"PREPARE {n} AS {_numbered(s)}" for n, s in batch.items()))
            prepared.update(batch)
        cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)
        return cursor.fetchone()


class PreparedQuery:
    """``build(*placeholders)`` returns the queryset; ``first(*values)`` runs it with values.

    ``build`` receives one stand-in per parameter, of the type ``types`` names (``int`` or
    ``str``), and must pass each straight to a filter on a column of that type (``pk=mark``,
    ``session_key=mark``), so the compiled parameter list holds it where the value goes.
    """

    def __init__(
        self, build: Callable[..., QuerySet], *, types: tuple[type, ...] = (int,),
        using: str = "default",
    ) -> None:  # fmt: skip
        if any(kind not in (int, str) for kind in types):
            raise ValueError("parameters are int or str")
        self._build = build
        self._types = types
        self._using = using
        self._compiled: tuple | None = None
        self._lock = threading.Lock()

    def _compile(self) -> tuple:
        with self._lock:
            if self._compiled is not None:
                return self._compiled
            marks = _marks(self._types)
            queryset = self._build(*marks)
            compiler = queryset.query.get_compiler(using=self._using)
            sql, params = compiler.as_sql()
            # Each parameter is either a fixed value or the index of the call's value to bind.
            binds = [
                ("value", marks.index(value))
                if type(value) in (int, str) and value in marks
                else ("fixed", value)
                for value in params
            ]
            if sorted(index for kind, index in binds if kind == "value") != list(range(len(marks))):
                raise ValueError("each placeholder must appear once in the compiled parameters")
            select, klass_info = compiler.select, compiler.klass_info
            fields = klass_info["select_fields"]
            start, end = fields[0], fields[-1] + 1
            init_list = [column[0].target.attname for column in select[start:end]]
            converters = compiler.get_converters([column[0] for column in select])
            populators = get_related_populators(klass_info, select, self._using)
            self._compiled = (sql, binds, compiler, converters, klass_info["model"], start, end,
                              init_list, populators, compiler.annotation_col_map)  # fmt: skip
            return self._compiled

    def first(self, *values: Any) -> Model | None:
        """The first instance the queryset returns for these parameter values, or None."""
        row = self.row(*values)
        return None if row is None else self.instance(row)

    def row(self, *values: Any, prepare_too: PreparedQuery | None = None) -> tuple | None:
        """The first row as the database returned it (before Django's converters), or None.

        ``prepare_too``: another query to prepare on the server along with this one."""
        sql, binds = (self._compiled or self._compile())[:2]
        params = [values[item] if kind == "value" else item for kind, item in binds]
        others = (prepare_too.sql(),) if prepare_too is not None else ()
        return fetchone_prepared(sql, params, using=self._using, prepare_too=others)

    def sql(self) -> str:
        """The compiled statement (psycopg2 placeholders)."""
        return (self._compiled or self._compile())[0]

    def model_columns(self) -> slice:
        """Where the queried model's own columns are in a ``row``."""
        compiled = self._compiled or self._compile()
        return slice(compiled[5], compiled[6])

    def model_column(self, attname: str) -> int:
        """Where the queried model's field ``attname`` is in a ``row``."""
        compiled = self._compiled or self._compile()
        return compiled[5] + compiled[7].index(attname)

    def related_columns(self) -> slice:
        """Where the ``select_related`` models' columns are in a ``row`` (they come last)."""
        compiled = self._compiled or self._compile()
        return slice(min(populator.cols_start for populator in compiled[8]), None)

    def width(self) -> int:
        """How many columns a ``row`` has."""
        return len((self._compiled or self._compile())[2].select)

    def annotation_column(self, name: str) -> int:
        """Where the annotation ``name`` is in a ``row``."""
        return (self._compiled or self._compile())[9][name]

    def instance(self, row: tuple) -> Model:
        """The instance a ``row`` of this query makes, exactly as the ORM builds it."""
        (_sql, _binds, compiler, converters, model, start, end, init_list, populators,
         annotations) = self._compiled or self._compile()  # fmt: skip
        if converters:
            row = next(iter(compiler.apply_converters([row], converters)))
        instance = model.from_db(self._using, init_list, row[start:end])
        for populator in populators:
            populator.populate(row, instance)
        for name, position in annotations.items():
            setattr(instance, name, row[position])
        return instance
