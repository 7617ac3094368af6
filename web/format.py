"""engine.format as Jinja filters: every page formats numbers by meaning, the same way the
API renderings, the command line and the backtest reports do."""

from __future__ import annotations

from typing import Any

from flask import Flask

from engine import format as fmt

FILTERS: dict[str, Any] = {
    "price": fmt.price, "qty": fmt.qty, "money": fmt.money, "pct": fmt.pct, "funding": fmt.funding,
    "usd": fmt.usd_compact, "score": fmt.score, "r": fmt.r_multiple, "time": fmt.time_iso,
    "duration": fmt.duration, "num": fmt.number, "frac_pct": fmt.fraction_pct, "signed": fmt.signed_class,
}


def signed_money(x: Any) -> str:
    return fmt.money(x, signed=True)


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.filters["smoney"] = signed_money
    app.jinja_env.globals["field"] = fmt.field
