"""Short transactions for the hottest path, run straight on the database driver.

Why: SQLAlchemy's `Connection.execute` costs many times the Python per call that the same SQLite
query through the driver does (bench/RESULTS.md), and on PostgreSQL every statement is a network
round trip. A button answer runs five statements.

- `DriverStatement`: a Core statement compiled by SQLAlchemy once per dialect, so the SQL is still
  written once for both databases with the models' types; the columns' own bind and result
  processors are applied by hand, so values are stored and read exactly as the ORM does.
- `DriverTransaction`: a pooled connection (pre-pinged like any other), with `run` sending a group
  of statements together: on PostgreSQL in one round trip (psycopg's client-side binding, several
  statements in one query string), on SQLite one by one in process, where there is nothing to save.
- `read_in`: one read in a transaction that SQLAlchemy already holds (an ORM session's), for a
  statement worth planning only once (the unit report's).

On PostgreSQL each statement is PREPAREd once per connection and run with EXECUTE. psycopg's own
automatic preparing is off (storage/db.py): it would DEALLOCATE ALL on every rollback.

Limits, checked when a statement is compiled: no expanding IN lists, no Python-side defaults.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None
Row = tuple[Any, ...]


_REQUIRED = object()  # a bind with no value of its own: the caller must give one


class _Bind(NamedTuple):
    """One parameter as `SQLCompiler.construct_params` would fill it, worked out once: the caller's
    value (under the bind's key or its compiled name), else the statement's own, run through the
    column type's bind processor."""

    key: str
    name: str
    value: Any
    process: Processor


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # The binds in the driver's order: SQLite's qmark positions, or PostgreSQL's $1, $2 ...
    binds: tuple[_Bind, ...]
    results: tuple[Processor, ...]
    numbered: str  # PostgreSQL: the SQL with $1, $2 ... for PREPARE
    execute: str  # PostgreSQL: EXECUTE <name>(%s, ...), bound client-side by psycopg
    returns_rows: bool


_PYFORMAT = re.compile(r"%\(([^)]+)\)s")
_names = itertools.count(1)


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """psycopg's `%(name)s` SQL as PREPARE wants it (`$1`, `$2`, ...), and the names in that order."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    return _PYFORMAT.sub(number, sql).replace("%%", "%"), tuple(order)


class DriverStatement:
    """A Core statement compiled once per dialect, for `DriverTransaction.run`.

    `build` gives the statement for a dialect name (dialect-specific upserts need that); a plain
    statement serves every dialect. `column_keys` names an INSERT's columns when it has no values.
    """

    def __init__(
        self,
        build: ClauseElement | Callable[[str], ClauseElement],
        *,
        column_keys: Sequence[str] | None = None,
    ) -> None:
        self._build = build
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._by_dialect: dict[str, _Compiled] = {}
        self.name = f"assessbot_{next(_names)}"  # its prepared statement's name on PostgreSQL

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        statement = self._build if isinstance(self._build, ClauseElement) else self._build(dialect.name)
        compiled = statement.compile(dialect=dialect, column_keys=self._column_keys)
        assert isinstance(compiled, SQLCompiler)
        if compiled.post_compile_params or compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError(f"not for the driver path (expanding or prefetched parameters): {compiled}")
        if compiled.escaped_bind_names or any(bind.callable for bind in compiled.bind_names):
            raise ValueError(f"not for the driver path (escaped or callable parameters): {compiled}")
        binds = {
            name: _Bind(
                bind.key,
                name,
                _REQUIRED if bind.required else bind.value,
                bind.type.dialect_impl(dialect).bind_processor(dialect),
            )
            for bind, name in compiled.bind_names.items()
        }
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(statement, "selected_columns", ())
        )
        if compiled.positiontup is not None:
            numbered, order = compiled.string, tuple(compiled.positiontup)
        else:
            numbered, order = _numbered(compiled.string)
        returns_rows = bool(compiled.effective_returning) or not (
            compiled.isinsert or compiled.isupdate or compiled.isdelete
        )
        placeholders = ", ".join(["%s"] * len(order))
        execute = f"EXECUTE {self.name}({placeholders})" if placeholders else f"EXECUTE {self.name}"
        return _Compiled(
            compiled.string, tuple(binds[name] for name in order), results, numbered, execute, returns_rows
        )

    def values(self, dialect: Dialect, params: Mapping[str, Any]) -> list[Any]:
        """The driver's parameters, in the order of the SQL's placeholders (`?` on SQLite, `$n` in
        PREPARE's SQL on PostgreSQL)."""
        # One loop with nothing called per bind but the processor: this runs for every statement
        # of every answer.
        values = []
        for key, name, own, process in self.compiled(dialect).binds:
            value = params.get(key, params.get(name, own))
            if value is _REQUIRED:
                raise KeyError(f"a value is required for bind parameter {key!r}")
            values.append(value if process is None else process(value))
        return values

    def prepare_sql(self, dialect: Dialect) -> str:
        """PostgreSQL: `PREPARE <name> AS <the statement>`, once per connection."""
        return f"PREPARE {self.name} AS {self.compiled(dialect).numbered}"

    def execute_sql(self, dialect: Dialect) -> str:
        """PostgreSQL: `EXECUTE <name>(%s, ...)`, for psycopg's client-side binding of `values`."""
        return self.compiled(dialect).execute

    def rows(self, dialect: Dialect, raw: Sequence[Sequence[Any]]) -> list[Row]:
        """The driver's rows, each value as the ORM would read it."""
        processors = self.compiled(dialect).results
        if not any(processors):
            return [tuple(row) for row in raw]
        return [
            tuple(
                value if process is None else process(value)
                for process, value in zip(processors, row, strict=True)
            )
            for row in raw
        ]


Call = tuple[DriverStatement, Mapping[str, Any]]


class DriverTransaction:
    """One transaction on a pooled driver connection: `run` a batch or two, then `commit` with the
    last one; leaving the block without a commit rolls back.

    SQLite takes its write lock up front (BEGIN IMMEDIATE), as every transaction of storage/db.py
    does. On PostgreSQL the BEGIN goes with the first batch and the COMMIT with the last (psycopg is
    put in autocommit mode for the block, so it sends no BEGIN of its own): a read batch and a write
    batch cost two round trips in all.

    Driver errors come out as SQLAlchemy's (`OperationalError` and the rest), like everywhere else,
    and a connection the database dropped is discarded instead of going back to the pool."""

    def __init__(self, db: Engine) -> None:
        self.dialect = db.dialect
        self._together = db.dialect.name == "postgresql"
        self._db = db
        self._pooled: Any = None
        self._driver: Any = None
        self._begun = False
        self._open = False

    def __enter__(self) -> DriverTransaction:
        dbapi = self.dialect.loaded_dbapi
        try:
            self._pooled = self._db.raw_connection()
        except dbapi.Error as error:  # the pool hands connect errors on as the driver raised them
            raise DBAPIError.instance("connect", None, error, dbapi.Error, dialect=self.dialect) from error
        self._driver = self._pooled.driver_connection
        self._open = True
        if self._together:
            self._driver.autocommit = True  # psycopg allows this only between transactions, as here
        else:
            self._guarded("BEGIN IMMEDIATE", self._driver.execute, "BEGIN IMMEDIATE")
            self._begun = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if self._open and self._begun and self._pooled.is_valid:
                self._driver.execute("ROLLBACK")
            if self._together and not self._driver.closed:
                self._driver.autocommit = False
        finally:
            self._open = False
            self._pooled.close()  # back to the pool, which resets it

    def run(self, *calls: Call) -> list[list[Row]]:
        """Each statement's rows (empty for statements that return none), in order."""
        return self._run(calls, commit=False)

    def commit(self, *calls: Call) -> list[list[Row]]:
        """Run the last statements and commit, together."""
        results = self._run(calls, commit=True)
        self._open = False
        return results

    def _run(self, calls: Sequence[Call], *, commit: bool) -> list[list[Row]]:
        if self._together:
            together: list[list[Row]] = self._guarded("batch", self._run_together, calls, commit)
            return together
        results = [
            _rows_one_by_one(self._pooled, self.dialect, statement, params) for statement, params in calls
        ]
        if commit:
            self._guarded("COMMIT", self._driver.execute, "COMMIT")
        return results

    def _run_together(self, calls: Sequence[Call], commit: bool) -> list[list[Row]]:
        """PostgreSQL: one query string holding every statement (with BEGIN first in the first batch,
        and COMMIT last when committing), so a batch costs one round trip. The statements are
        prepared once per connection and run with EXECUTE, so the server does not plan them again
        on every event; psycopg binds the EXECUTE arguments client-side, with its own quoting. Each
        statement's result follows the previous one's (`nextset`)."""
        from psycopg import ClientCursor

        with ClientCursor(self._driver) as cursor:
            _prepare(self._pooled, cursor, self.dialect, [statement for statement, _params in calls])
            begin = not self._begun
            self._begun = True
            parts = [statement.execute_sql(self.dialect) for statement, _params in calls]
            values = [
                value for statement, params in calls for value in statement.values(self.dialect, params)
            ]
            # One binding for the whole batch: psycopg quotes every value in one pass.
            cursor.execute(
                ";\n".join((["BEGIN"] if begin else []) + parts + (["COMMIT"] if commit else [])), values
            )
            if begin:
                cursor.nextset()
            results = []
            for statement, _params in calls:
                raw = cursor.fetchall() if statement.compiled(self.dialect).returns_rows else []
                results.append(statement.rows(self.dialect, raw))
                cursor.nextset()
            return results

    def _guarded(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        return _guarded(self._pooled, self.dialect, what, call, *args)


def read_in(connection: Connection, statement: DriverStatement, params: Mapping[str, Any]) -> list[Row]:
    """The statement's rows, read on the driver in `connection`'s transaction.

    On PostgreSQL the statement is prepared once per pooled connection, so a statement whose
    planning costs more than running it (the unit report's head, with its subqueries) is planned
    once per connection instead of on every call."""
    dialect = connection.dialect
    pooled = connection.connection  # begins SQLAlchemy's transaction if it has not begun yet
    driver: Any = pooled.driver_connection
    if dialect.name != "postgresql":
        return _rows_one_by_one(pooled, dialect, statement, params)
    from psycopg import ClientCursor

    with ClientCursor(driver) as cursor:
        _guarded(pooled, dialect, "PREPARE", _prepare, pooled, cursor, dialect, [statement])
        sql = statement.execute_sql(dialect)
        _guarded(pooled, dialect, sql, cursor.execute, sql, statement.values(dialect, params))
        return statement.rows(dialect, cursor.fetchall())


def _rows_one_by_one(
    pooled: Any, dialect: Dialect, statement: DriverStatement, params: Mapping[str, Any]
) -> list[Row]:
    """SQLite: run one statement on the driver connection and read its rows (in process, nothing
    to gain from sending statements together)."""
    sql = statement.compiled(dialect).sql
    cursor = _guarded(
        pooled, dialect, sql, pooled.driver_connection.execute, sql, statement.values(dialect, params)
    )
    return statement.rows(dialect, cursor.fetchall())


def _prepare(pooled: Any, cursor: Any, dialect: Dialect, statements: Sequence[DriverStatement]) -> None:
    """PREPARE the statements this connection has not prepared yet (a prepared statement lives as
    long as the connection, and survives a rollback), in a round trip of their own."""
    prepared: set[str] = pooled.info.setdefault("assessbot_prepared", set())
    missing = [statement for statement in statements if statement.name not in prepared]
    if missing:
        cursor.execute(";\n".join(statement.prepare_sql(dialect) for statement in missing))
        prepared.update(statement.name for statement in missing)


def _guarded(pooled: Any, dialect: Dialect, what: str, call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)`, turning a driver error into SQLAlchemy's and discarding a dropped connection."""
    dbapi = dialect.loaded_dbapi
    try:
        return call(*args)
    except dbapi.Error as error:
        dropped = dialect.is_disconnect(error, pooled.driver_connection, None)
        if dropped:
            pooled.invalidate(error)
        raise DBAPIError.instance(
            what, None, error, dbapi.Error, connection_invalidated=dropped, dialect=dialect
        ) from error
