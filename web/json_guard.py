"""JSON bodies carry finite numbers only.

Python's json module reads `NaN`, `Infinity` and `1e999` as floats that every range check
lets through (comparisons with NaN are false); written into the config they stop the
analytics loop and make the API emit invalid JSON. Every JSON body is checked before any
view reads it; the refusal names the key path, e.g. `risk_percent: NaN is not a number`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Flask, abort, request

_CHANGES = ("POST", "PUT", "PATCH", "DELETE")


class _NonFinite:
    def __init__(self, text: str):
        self.text = text


def _float(text: str) -> Any:
    v = float(text)
    return v if math.isfinite(v) else _NonFinite(text)


def first_non_finite(value: Any, path: str = "") -> tuple[str, str] | None:
    """(key path, literal) of the first non-finite number in a parsed body, else None."""
    if isinstance(value, _NonFinite):
        return path or "(top level)", value.text
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        found = first_non_finite(v, f"{path}[{k}]" if isinstance(k, int) else f"{path}.{k}" if path else str(k))
        if found:
            return found
    return None


def check_body(raw: bytes) -> str | None:
    """The refusal for a body holding NaN or an infinity (or nested past Python's
    recursion limit); None when fine, or not JSON at all: the view then says what it expected."""
    try:
        doc = json.loads(raw, parse_constant=_NonFinite, parse_float=_float)
    except RecursionError:
        return "the JSON body is nested too deeply (expected a plain object)"
    except ValueError:
        return None
    found = first_non_finite(doc)
    if found is None:
        return None
    path, text = found
    return f"{path}: {text[:20]} is not a finite number (JSON numbers only; expected a finite number)"


def init_app(app: Flask) -> None:
    @app.before_request
    def _finite_json_only() -> None:
        if request.method in _CHANGES and request.is_json:
            problem = check_body(request.get_data(cache=True))
            if problem:
                abort(400, description=problem)
