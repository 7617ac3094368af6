"""Expressions in rule files: a small language parsed by lark, evaluated over numpy columns.

An expression is text such as `crosses_above(ema_fast, ema_slow) and close_1h > ema_200`.
It is parsed by a fixed lark grammar (data in, a tree of tuples out: nothing is ever
executed as Python), type-checked at compile time (number vs boolean, known names,
function arity) with file:line:col errors, and evaluated by `evaluate` over columns —
one value per cycle, oldest first. The live cycle passes the last `history + 1`
cycles, the backtest a whole day of cycles (with the same lead-in): the same numpy
operations run element by element, so the values are identical.

Values: numbers are float64, booleans 1.0 / 0.0; NaN is unknown. Unknown propagates
through arithmetic and comparisons; `and` / `or` follow three-valued logic (false and
unknown is false, true or unknown is true); a window with an unknown cycle is unknown.

Names: declared indicators (`rsi_7`, `bb.upperband`), candle series of a timeframe
(`close_1h`, `volume_5m`, `typprice_4h`), earlier expressions of the same file, config
values (`${risk.max_funding_8h}`), numbers, true / false.
Functions: abs(x), min(a, b, ...), max(a, b, ...), pct(a, b) = (a - b) / b x 100 (the
percent distance of a from b), prev(x[, k]) (k cycles ago, default 1),
crosses_above(a, b) / crosses_below(a, b) (b a series or a level: a was <= b the cycle
before and is > b now), count_last(cond, m) (how many of the last m cycles held),
n_of_last(cond, n, m) (at least n of the last m), held(cond, k) (each of the last k).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr ("or" and_expr)*
?and_expr: not_expr ("and" not_expr)*
?not_expr: "not" not_expr -> not_
         | comparison
?comparison: sum (COMP sum)?
?sum: product (ADD_OP product)*
?product: unary (MUL_OP unary)*
?unary: "-" unary -> neg
      | atom
?atom: NUMBER -> number
     | "true" -> true
     | "false" -> false
     | CONFIG -> config
     | DOTTED "(" [or_expr ("," or_expr)*] ")" -> call
     | DOTTED -> name
     | "(" or_expr ")"
COMP: ">=" | "<=" | "==" | "!=" | ">" | "<"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/"
CONFIG: /-?\$\{[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*\}/
DOTTED: /[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*/
NUMBER: /\d+(\.\d+)?/
%ignore /[ \t]+/
"""

KEYWORDS = ("and", "or", "not", "true", "false")
# function -> (argument kinds, result type); "n" number, "b" boolean, "k" positive integer literal,
# "*" any type (the result has the argument's type), "n+" one or more numbers.
FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "abs": (("n",), "number"),
    "min": (("n+",), "number"),
    "max": (("n+",), "number"),
    "pct": (("n", "n"), "number"),
    "prev": (("*", "k?"), "*"),
    "crosses_above": (("n", "n"), "boolean"),
    "crosses_below": (("n", "n"), "boolean"),
    "count_last": (("b", "k"), "number"),
    "n_of_last": (("b", "k", "k"), "boolean"),
    "held": (("b", "k"), "boolean"),
}
MAX_WINDOW = 1000       # cycles of history one expression may look back
WINDOWED = ("prev", "crosses_above", "crosses_below", "count_last", "n_of_last", "held")


class ExpressionError(Exception):
    """`col` is the column inside the expression text (1-based)."""

    def __init__(self, message: str, col: int = 1, name: str | None = None):
        self.col = col
        self.name = name        # the unknown name, when that is the problem
        super().__init__(message)


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


@dataclass(frozen=True)
class Compiled:
    """One checked expression: `node` a tree of tuples, `history` the earlier cycles it reads."""
    name: str
    text: str
    node: tuple[Any, ...]
    type: str            # "number" | "boolean"
    history: int
    where: str


def parse(text: str, names: Mapping[str, tuple[Any, ...]], config: Callable[[str], Any]) -> tuple[tuple[Any, ...], str, int]:
    """Parse and type-check. `names`: name -> (type, history[, now_only]) — now_only: a fact
    field read at this cycle only (no earlier values: no prev, crossing or window over it);
    `config(dotted)` -> a number or raises KeyError / ValueError with the reason.
    Returns (node, type, history)."""
    if len(text) > 2000:
        raise ExpressionError("expression longer than 2000 characters (expected a short formula)")
    try:
        tree = _parser().parse(text)
    except UnexpectedCharacters as exc:
        raise ExpressionError(f"unexpected character {text[exc.pos_in_stream or 0]!r} "
                              "(expected a name, a number, an operator or a function call)", exc.column) from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            raise ExpressionError("the expression ends too early (expected more after it)",
                                  len(text) + 1) from None
        raise ExpressionError(f"unexpected {str(tok)!r} (expected {_expected(exc.expected)})",
                              tok.column or 1) from None
    except UnexpectedEOF:
        raise ExpressionError("the expression ends too early", len(text) + 1) from None
    except UnexpectedInput as exc:
        raise ExpressionError(f"cannot read the expression: {exc}", getattr(exc, "column", 1) or 1) from None
    return _check(tree, names, config)


def _expected(tokens: set[str]) -> str:
    words = {"NAME": "a name", "DOTTED": "a name", "NUMBER": "a number", "LPAR": "(", "RPAR": ")",
             "COMMA": ",", "COMP": "a comparison", "ADD_OP": "+ or -", "MUL_OP": "* or /", "CONFIG": "${...}"}
    shown = sorted({words.get(t, t.lower()) for t in tokens})
    return ", ".join(shown[:8]) or "something else"


def _col(t: Any) -> int:
    if isinstance(t, Token):
        return t.column or 1
    meta = getattr(t, "meta", None)
    return getattr(meta, "column", 1) if meta is not None and not meta.empty else 1


def _check(t: Any, names: Mapping[str, tuple[Any, ...]], config: Callable[[str], Any]) -> tuple[tuple[Any, ...], str, int]:
    if isinstance(t, Token):            # a bare token only reaches here through `?atom`
        raise ExpressionError(f"unexpected {str(t)!r}", _col(t))
    kind = t.data
    if kind == "number":
        return ("const", float(t.children[0])), "number", 0
    if kind in ("true", "false"):
        return ("const", 1.0 if kind == "true" else 0.0), "boolean", 0
    if kind == "config":
        raw = str(t.children[0])
        neg = raw.startswith("-")
        dotted = raw.lstrip("-")[2:-1]
        try:
            v = config(dotted)
        except (KeyError, ValueError) as exc:
            raise ExpressionError(str(exc.args[0] if exc.args else exc), _col(t)) from None
        return ("const", -float(v) if neg else float(v)), "number", 0
    if kind == "name":
        name = str(t.children[0])
        if name in KEYWORDS:
            raise ExpressionError(f"{name!r} is a keyword here (expected a value)", _col(t))
        outputs = [n for n in names if n.startswith(name + ".")]
        if name not in names and outputs:
            raise ExpressionError(f"{name} has several outputs (expected one of {', '.join(outputs)})", _col(t))
        if name not in names:
            import difflib
            close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ExpressionError(f"unknown name {name!r}{hint} (expected a declared indicator, a candle series "
                                  "like close_1h, an earlier expression, or a number field of snapshot or flow)",
                                  _col(t), name)
        typ, hist = names[name][:2]
        return ("ref", name), typ, hist
    if kind == "neg":
        node, typ, hist = _check(t.children[0], names, config)
        _want(typ, "number", t.children[0], "-")
        return ("neg", node), "number", hist
    if kind == "not_":
        node, typ, hist = _check(t.children[0], names, config)
        _want(typ, "boolean", t.children[0], "not")
        return ("not", node), "boolean", hist
    if kind in ("or_expr", "and_expr"):
        op = "or" if kind == "or_expr" else "and"
        parts = [_check(c, names, config) for c in t.children]
        for c, (_, typ, _) in zip(t.children, parts, strict=True):
            _want(typ, "boolean", c, op)
        node = parts[0][0]
        for p in parts[1:]:
            node = (op, node, p[0])
        return node, "boolean", max(p[2] for p in parts)
    if kind in ("sum", "product"):
        ch = t.children
        node, typ, hist = _check(ch[0], names, config)
        _want(typ, "number", ch[0], str(ch[1]))
        for i in range(1, len(ch), 2):
            op = str(ch[i])
            rnode, rtyp, rhist = _check(ch[i + 1], names, config)
            _want(rtyp, "number", ch[i + 1], op)
            node, hist = ("arith", op, node, rnode), max(hist, rhist)
        return node, "number", hist
    if kind == "comparison":
        a, op_tok, b = t.children
        an, at, ah = _check(a, names, config)
        bn, bt, bh = _check(b, names, config)
        op = str(op_tok)
        if op in ("==", "!="):
            if at != bt:
                raise ExpressionError(f"{op} compares a {at} with a {bt} (expected two of the same type)", _col(op_tok))
        else:
            _want(at, "number", a, op)
            _want(bt, "number", b, op)
        return ("cmp", op, an, bn), "boolean", max(ah, bh)
    if kind == "call":
        return _call(t, names, config)
    raise ExpressionError(f"cannot read {kind}", _col(t))


def _want(typ: str, expected: str, at: Any, op: str) -> None:
    if typ != expected:
        raise ExpressionError(f"{op} needs a {expected}, got a {typ}", _col(at))


def _call(t: Tree, names: Mapping[str, tuple[Any, ...]], config: Callable[[str], Any]) -> tuple[tuple[Any, ...], str, int]:
    fname_tok, *args = t.children
    args = [a for a in args if a is not None]
    fname = str(fname_tok)
    if fname not in FUNCTIONS:
        import difflib
        close = difflib.get_close_matches(fname, list(FUNCTIONS), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ExpressionError(f"unknown function {fname!r}{hint} (expected one of {', '.join(FUNCTIONS)})", _col(fname_tok))
    kinds, result = FUNCTIONS[fname]
    lo = sum(1 for k in kinds if not k.endswith("?"))
    variadic = kinds[-1].endswith("+")
    hi = 99 if variadic else len(kinds)
    if not lo <= len(args) <= hi:
        need = f"{lo} or more" if variadic else (f"{lo} to {hi}" if lo != hi else str(lo))
        raise ExpressionError(f"{fname} takes {need} argument(s), got {len(args)}", _col(fname_tok))
    nodes: list[Any] = []
    types: list[str] = []
    hist = 0
    for i, a in enumerate(args):
        k = kinds[min(i, len(kinds) - 1)].rstrip("?+")
        if k == "k":
            nodes.append(_int_literal(a, fname))
            types.append("integer")
            continue
        node, typ, h = _check(a, names, config)
        if k == "n":
            _want(typ, "number", a, fname)
        elif k == "b":
            _want(typ, "boolean", a, fname)
        nodes.append(node)
        types.append(typ)
        hist = max(hist, h)
    if fname in WINDOWED:
        looked_back = references(nodes[0])
        if fname.startswith("crosses"):
            looked_back |= references(nodes[1])
        now_only = sorted(r for r in looked_back if len(names.get(r, ())) > 2 and names[r][2])
        if now_only:
            raise ExpressionError(f"{fname}: {now_only[0]} is read at this cycle only, it has no earlier values "
                                  "(expected a declared indicator or a candle series like close_5m)", _col(args[0]))
    if fname == "prev":
        back = int(nodes[1]) if len(nodes) > 1 else 1
        return ("prev", nodes[0], back), types[0], _bounded(hist + back, fname_tok)
    if fname in ("crosses_above", "crosses_below"):
        return (fname, nodes[0], nodes[1]), "boolean", _bounded(hist + 1, fname_tok)
    if fname in ("count_last", "held"):
        return (fname, nodes[0], nodes[1]), result, _bounded(hist + nodes[1] - 1, fname_tok)
    if fname == "n_of_last":
        n, m = nodes[1], nodes[2]
        if n > m:
            raise ExpressionError(f"n_of_last: n = {n} is more than m = {m} (expected n <= m)", _col(args[1]))
        return ("n_of_last", nodes[0], n, m), "boolean", _bounded(hist + m - 1, fname_tok)
    return ("fn", fname, tuple(nodes)), result, hist


def _bounded(hist: int, at: Any) -> int:
    if hist > MAX_WINDOW:
        raise ExpressionError(f"looks back {hist} cycles (expected at most {MAX_WINDOW})", _col(at))
    return hist


def _int_literal(a: Any, fname: str) -> int:
    if isinstance(a, Tree) and a.data == "number":
        text = str(a.children[0])
        if "." not in text and 1 <= int(text) <= MAX_WINDOW:
            return int(text)
    raise ExpressionError(f"{fname}: expected a whole number of cycles from 1 to {MAX_WINDOW} here", _col(a))


# -- evaluation over columns ---------------------------------------------------------------

def _shift(a: np.ndarray, k: int) -> np.ndarray:
    out = np.full(len(a), np.nan)
    if k < len(a):
        out[k:] = a[: len(a) - k]
    return out


def _bool(x: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    out = x.astype(np.float64)
    out[unknown] = np.nan
    return out


def evaluate(node: tuple[Any, ...], cols: Mapping[str, np.ndarray], size: int) -> np.ndarray:
    """The expression over columns of `size` cycles (oldest first): a float64 array."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _eval(node, cols, size)


def _eval(node: tuple[Any, ...], cols: Mapping[str, np.ndarray], size: int) -> np.ndarray:
    kind = node[0]
    if kind == "const":
        return np.full(size, node[1])
    if kind == "ref":
        return cols[node[1]]
    if kind == "neg":
        return -_eval(node[1], cols, size)
    if kind == "not":
        a = _eval(node[1], cols, size)
        return np.where(np.isnan(a), np.nan, 1.0 - a)
    if kind in ("and", "or"):
        a, b = _eval(node[1], cols, size), _eval(node[2], cols, size)
        decisive = 0.0 if kind == "and" else 1.0
        other = 1.0 - decisive
        out = np.where((a == decisive) | (b == decisive), decisive,
                       np.where(np.isnan(a) | np.isnan(b), np.nan, other))
        return out.astype(np.float64)
    if kind == "arith":
        a, b = _eval(node[2], cols, size), _eval(node[3], cols, size)
        op = node[1]
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        r = a / b
        return np.where(np.isfinite(r), r, np.nan)
    if kind == "cmp":
        a, b = _eval(node[2], cols, size), _eval(node[3], cols, size)
        op = node[1]
        res = {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b, "==": a == b, "!=": a != b}[op]
        return _bool(res, np.isnan(a) | np.isnan(b))
    if kind == "fn":
        fname, args = node[1], [_eval(n, cols, size) for n in node[2]]
        if fname == "abs":
            return np.abs(args[0])
        if fname in ("min", "max"):
            acc = args[0]
            for x in args[1:]:   # NaN-propagating: unknown if any argument is unknown
                acc = np.minimum(acc, x) if fname == "min" else np.maximum(acc, x)
            return acc
        if fname == "pct":
            r = (args[0] - args[1]) / args[1] * 100.0
            return np.where(np.isfinite(r), r, np.nan)
        raise ValueError(f"unknown function {fname}")
    if kind == "prev":
        return _shift(_eval(node[1], cols, size), node[2])
    if kind in ("crosses_above", "crosses_below"):
        a, b = _eval(node[1], cols, size), _eval(node[2], cols, size)
        pa, pb = _shift(a, 1), _shift(b, 1)
        res = (a > b) & (pa <= pb) if kind == "crosses_above" else (a < b) & (pa >= pb)
        return _bool(res, np.isnan(a) | np.isnan(b) | np.isnan(pa) | np.isnan(pb))
    if kind in ("count_last", "held", "n_of_last"):
        c = _eval(node[1], cols, size)
        m = node[2] if kind != "n_of_last" else node[3]
        total = c.copy()
        for i in range(1, m):      # fixed-order adds: the same value whatever the column length
            total = total + _shift(c, i)
        if kind == "count_last":
            return total
        need = m if kind == "held" else node[2]
        return _bool(total >= need, np.isnan(total))
    raise ValueError(f"unknown node {kind}")


def references(node: Any) -> set[str]:
    """Every name an expression reads."""
    if not isinstance(node, tuple) or not node:
        return set()
    if node[0] == "ref":
        return {node[1]}
    out: set[str] = set()
    for part in node[1:]:
        if isinstance(part, tuple):
            if part and isinstance(part[0], str):
                out |= references(part)
            else:
                for p in part:
                    out |= references(p)
    return out


def plain_value(x: float, typ: str) -> Any:
    """One evaluated value as a fact field: a float, a bool, or None when unknown."""
    if x != x:          # NaN
        return None
    if typ == "boolean":
        return bool(x)
    return float(x)
