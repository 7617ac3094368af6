"""Column types that keep their values exact on both backends.

Money (prices, quantities, PnL, fees) is stored as the decimal string itself: SQLite's
NUMERIC affinity would turn a DECIMAL column into a float, so a text column is the only
way the same schema round-trips `Decimal` exactly on SQLite and MariaDB. Sum money in
Python with Decimal, not in SQL.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import peewee


class MoneyField(peewee.Field):
    """A Decimal stored as its exact string ('0.0010' comes back as Decimal('0.0010'))."""

    field_type = "VARCHAR(48)"

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, float):
            # A float has already lost exactness; refuse rather than store a guess.
            raise TypeError(f"{self.model.__name__}.{self.name}: money must be Decimal, str or int, got float {value!r}")
        try:
            dec = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{self.model.__name__}.{self.name}: {value!r} is not a decimal number") from None
        if not dec.is_finite():
            raise ValueError(f"{self.model.__name__}.{self.name}: {value!r} is not a finite number")
        return str(dec)

    def python_value(self, value: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


class JSONField(peewee.Field):
    """A JSON document in a text column (LONGTEXT: traces can exceed MariaDB's 64 KB TEXT)."""

    field_type = "LONGTEXT"

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
