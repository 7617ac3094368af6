"""News-sentiment input: {as_of, score −2…+2, label, comment}.

The label must match the score: bearish when score <= −0.5, bullish when score >= 0.5,
neutral in between.
"""

from __future__ import annotations

from typing import Any

from engine.facts import SENTIMENT_LABEL
from engine.inputs.common import Problem, choice, fields, iso_time, number, text

LABEL_BAND = 0.5


def label_for(score: float) -> str:
    return "bearish" if score <= -LABEL_BAND else "bullish" if score >= LABEL_BAND else "neutral"


def validate_sentiment(obj: Any) -> tuple[dict[str, Any] | None, list[Problem]]:
    out: list[Problem] = []
    if not fields(obj, "$", {"as_of", "score", "label", "comment"}, set(), out, "sentiment document"):
        return None, out
    if "as_of" in obj:
        iso_time(obj["as_of"], "$.as_of", out)
    score = number(obj["score"], "$.score", out, -2.0, 2.0) if "score" in obj else None
    label = choice(obj["label"], "$.label", SENTIMENT_LABEL, out) if "label" in obj else None
    if "comment" in obj:
        text(obj["comment"], "$.comment", out)
    if score is not None and label is not None and label != label_for(score):
        out.append(Problem("$.label", f"{label!r} does not match score {score:g} (expected {label_for(score)!r})"))
    if out:
        return None, out
    return {"as_of": obj["as_of"], "score": obj["score"], "label": obj["label"], "comment": obj["comment"]}, []
