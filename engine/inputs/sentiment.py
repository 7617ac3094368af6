"""News-sentiment input: {as_of, score −2…+2, label, comment}.

The label must match the score: bearish when score <= −0.5, bullish when score >= 0.5,
neutral in between.
"""

from __future__ import annotations

from typing import Any

from engine.facts import SENTIMENT_LABEL
from engine.inputs.common import Problem, choice, fields, iso_from_ms, iso_time, number, text

LABEL_BAND = 0.5


def label_for(score: float) -> str:
    return "bearish" if score <= -LABEL_BAND else "bullish" if score >= LABEL_BAND else "neutral"


FUTURE_TOLERANCE_MS = 5 * 60_000  # clock skew between the person typing and the market clock


def validate_sentiment(obj: Any, at_ms: int | None = None) -> tuple[dict[str, Any] | None, list[Problem]]:
    """`at_ms`: the market's "now" (the replay's in a replay); an as_of after it would not
    be in force before then, so it is refused with the reason rather than accepted unused."""
    out: list[Problem] = []
    if not fields(obj, "$", {"as_of", "score", "label", "comment"}, set(), out, "sentiment document"):
        return None, out
    if "as_of" in obj:
        as_of_ms = iso_time(obj["as_of"], "$.as_of", out)
        if as_of_ms is not None and at_ms is not None and as_of_ms > at_ms + FUTURE_TOLERANCE_MS:
            out.append(Problem("$.as_of", f"{obj['as_of']} is after the market clock {iso_from_ms(at_ms)}: it "
                                          "would not be in force before then (use the market clock's time)"))
    score = number(obj["score"], "$.score", out, -2.0, 2.0) if "score" in obj else None
    label = choice(obj["label"], "$.label", SENTIMENT_LABEL, out) if "label" in obj else None
    if "comment" in obj:
        text(obj["comment"], "$.comment", out)
    if score is not None and label is not None and label != label_for(score):
        out.append(Problem("$.label", f"{label!r} does not match score {score:g} (expected {label_for(score)!r})"))
    if out:
        return None, out
    return {"as_of": obj["as_of"], "score": obj["score"], "label": obj["label"], "comment": obj["comment"]}, []
