"""Human inputs (PRODUCT.md §7): pure parse and validate, every problem with its JSON path."""

from typing import Any

from engine.inputs.common import Problem, parse_json
from engine.inputs.etf import summarise, validate_etf
from engine.inputs.liquidations import validate_liquidations, zone_notes
from engine.inputs.sentiment import label_for, validate_sentiment

VALIDATORS = {"etf": validate_etf, "liquidations": validate_liquidations, "sentiment": validate_sentiment}


def validate_payload(kind: str, raw: str | bytes, at_ms: int | None = None) -> tuple[dict[str, Any] | None, list[Any]]:
    """Parse and validate one human input of `kind`; (canonical doc, []) or (None, problems)."""
    obj, problems = parse_json(raw)
    if problems:
        return None, problems
    if kind == "liquidations":
        return validate_liquidations(obj, at_ms=at_ms)
    if kind == "etf":
        return validate_etf(obj)
    return validate_sentiment(obj, at_ms=at_ms)


__all__ = ["Problem", "parse_json", "summarise", "validate_etf", "validate_liquidations", "zone_notes",
           "label_for", "validate_sentiment", "VALIDATORS", "validate_payload"]
