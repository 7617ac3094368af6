"""Human inputs (PRODUCT.md §7): pure parse and validate, every problem with its JSON path."""

from engine.inputs.common import Problem, parse_json
from engine.inputs.etf import summarise, validate_etf
from engine.inputs.liquidations import validate_liquidations, zone_notes
from engine.inputs.sentiment import label_for, validate_sentiment

VALIDATORS = {"etf": validate_etf, "liquidations": validate_liquidations, "sentiment": validate_sentiment}

__all__ = ["Problem", "parse_json", "summarise", "validate_etf", "validate_liquidations", "zone_notes",
           "label_for", "validate_sentiment", "VALIDATORS"]
