"""Bounded YAML reading for every YAML file the product reads (rules, rule tests, config).

A hostile or careless file must be refused quickly, with file:line:col, before anything
walks it: a few hundred bytes of nested anchors and aliases expand to billions of nodes
(each alias is the whole anchored subtree again), and a few thousand nested brackets
exhaust Python's recursion. So the limits are checked while the parser composes the node
graph — where each node is seen once and an alias costs nothing — and before the
constructor or any caller walks the expanded data:

- size of the text (bytes), before parsing;
- nesting depth, as each node is opened (the composer recurses: refuse long before Python would);
- alias count, as each alias is met;
- expanded node count and expanded depth (aliases followed), computed once over the
  composed graph with memoisation, so a bomb is measured in linear time;
- a CPU-time budget (this thread's, so a loaded machine does not refuse a good file),
  checked as nodes are composed.

ruamel's pure-Python parser costs ~50 µs a node (far more on a loaded machine), so the
same counts are first taken over libyaml's event stream (PyYAML's C parser, ~1 µs an
event): an oversize file is refused before ruamel reads it. The composer-level checks
stay as the authority (and the only check where libyaml is not installed).

Pure: text in, data (or YamlTooComplex / ruamel's own YAMLError) out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import StreamMark
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.scanner import Scanner


@dataclass(frozen=True)
class YamlLimits:
    max_bytes: int = 128 * 1024
    max_depth: int = 48            # rule files nest ~8 deep; fixtures in rule tests ~10
    max_aliases: int = 200
    max_nodes: int = 6_000         # after expanding aliases (the largest shipped file: ~1,500)
    max_scalar: int = 10_000       # characters of one value (a rule's `why:` may have 500)
    max_seconds: float = 1.5       # CPU seconds reading one file (a 13 KB rule file: ~0.1)


DEFAULT_LIMITS = YamlLimits()


class YamlTooComplex(ComposerError):
    """The text exceeds a limit; `problem_mark` is where (0-based line and column, as ruamel)."""

    def __init__(self, message: str, mark: Any):
        super().__init__(None, None, message, mark)


def _mark_at(text: str, index: int) -> StreamMark:
    line = text.count("\n", 0, index)
    col = index - (text.rfind("\n", 0, index) + 1)
    return StreamMark("<text>", index, line, col)


def _limited_scanner(base: type[Scanner], limits: YamlLimits) -> type[Scanner]:
    class LimitedScanner(base):  # type: ignore[misc, valid-type]
        """Flow brackets ([ {) are counted as they are scanned: the scanner looks ahead over
        every open bracket before the composer sees the first one, in quadratic time."""

        def fetch_flow_collection_start(self, token_class: Any, to_push: Any) -> None:
            if self.flow_level >= limits.max_depth:
                raise YamlTooComplex(f"nested deeper than {limits.max_depth} levels", self.reader.get_mark())
            super().fetch_flow_collection_start(token_class, to_push)

    return LimitedScanner


def _limited_composer(limits: YamlLimits, deadline: float) -> type[Composer]:
    class LimitedComposer(Composer):
        """ruamel's composer, counting and timing as it goes."""

        _nodes = 0
        _aliases = 0
        _level = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.parser.peek_event()
            if isinstance(event, AliasEvent):
                self._aliases += 1
                if self._aliases > limits.max_aliases:
                    raise YamlTooComplex(f"more than {limits.max_aliases} aliases (*name)", event.start_mark)
                return super().compose_node(parent, index)
            self._nodes += 1
            if self._nodes > limits.max_nodes:
                raise YamlTooComplex(f"more than {limits.max_nodes} nodes", event.start_mark)
            if self._nodes % 64 == 0 and time.thread_time() > deadline:
                raise YamlTooComplex(f"reading took more than {limits.max_seconds:g} s of CPU", event.start_mark)
            self._level += 1
            try:
                if self._level > limits.max_depth:
                    raise YamlTooComplex(f"nested deeper than {limits.max_depth} levels", event.start_mark)
                return super().compose_node(parent, index)
            finally:
                self._level -= 1

        def get_single_node(self) -> Any:
            node = super().get_single_node()
            if node is not None:
                _check_expanded(node, limits)
            return node

    return LimitedComposer


def _prescan(text: str, limits: YamlLimits) -> None:
    """The limits over libyaml's events, expanded size and depth included (an alias counts
    as its anchor's whole subtree). Text libyaml cannot parse is left to ruamel, which
    then reports the syntax error in its own words."""
    loader = getattr(pyyaml, "CSafeLoader", None) if getattr(pyyaml, "__with_libyaml__", False) else None
    if loader is None:
        return
    sizes: dict[str, tuple[int, int]] = {}           # anchor -> (expanded nodes, expanded depth)
    open_: list[list[Any]] = [[0, 0, None]]          # per open collection: [nodes inside, depth inside, anchor]
    expanded = aliases = 0

    def count(size: int, mark: Any) -> None:
        nonlocal expanded
        expanded += size
        if expanded > limits.max_nodes:
            raise YamlTooComplex(f"expands to more than {limits.max_nodes} nodes once its aliases are followed"
                                 if aliases else f"more than {limits.max_nodes} nodes", _mark(mark))

    def add(size: int, depth: int, mark: Any) -> None:
        top = open_[-1]
        top[0] += size
        top[1] = max(top[1], depth)
        if len(open_) - 1 + depth > limits.max_depth:
            raise YamlTooComplex(f"nested deeper than {limits.max_depth} levels"
                                 + (" once its aliases are followed" if aliases else ""), _mark(mark))

    try:
        for ev in pyyaml.parse(text, Loader=loader):
            if isinstance(ev, pyyaml.AliasEvent):
                aliases += 1
                if aliases > limits.max_aliases:
                    raise YamlTooComplex(f"more than {limits.max_aliases} aliases (*name)", _mark(ev.start_mark))
                size, depth = sizes.get(ev.anchor or "", (1, 1))
                count(size, ev.start_mark)
                add(size, depth, ev.start_mark)
            elif isinstance(ev, pyyaml.ScalarEvent):
                if len(ev.value) > limits.max_scalar:
                    raise YamlTooComplex(f"a value of {len(ev.value)} characters (at most {limits.max_scalar})",
                                         _mark(ev.start_mark))
                if ev.anchor:
                    sizes[ev.anchor] = (1, 1)
                count(1, ev.start_mark)
                add(1, 1, ev.start_mark)
            elif isinstance(ev, pyyaml.CollectionStartEvent):
                count(1, ev.start_mark)
                if len(open_) > limits.max_depth:
                    raise YamlTooComplex(f"nested deeper than {limits.max_depth} levels", _mark(ev.start_mark))
                open_.append([0, 0, ev.anchor])
            elif isinstance(ev, pyyaml.CollectionEndEvent):
                inside, depth, anchor = open_.pop()
                if anchor:
                    sizes[anchor] = (1 + inside, 1 + depth)
                add(1 + inside, 1 + depth, ev.start_mark)
    except pyyaml.YAMLError:
        return


def _mark(m: Any) -> StreamMark:
    return StreamMark("<text>", m.index, m.line, m.column)


def _check_expanded(root: Node, limits: YamlLimits) -> None:
    """Expanded size and depth of the composed graph (aliases are shared nodes), memoised
    per node and computed without recursion; a node that contains itself is refused."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        kids = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > limits.max_nodes:
                raise YamlTooComplex(f"expands to more than {limits.max_nodes} nodes once its aliases are "
                                     "followed", node.start_mark)
            if depth[key] > limits.max_depth:
                raise YamlTooComplex(f"nested deeper than {limits.max_depth} levels once its aliases are "
                                     "followed", node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlTooComplex("an alias refers to a node that contains it", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)
    # a child seen twice on one path is a cycle, caught above; shared children are counted per use


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load(text: str, typ: str = "rt", limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """Parse one YAML document within `limits`. Raises YamlTooComplex (with its position)
    or ruamel's YAMLError for text that is not YAML."""
    if len(text) > limits.max_bytes or len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        cut = len(text.encode("utf-8", "surrogatepass")[:limits.max_bytes].decode("utf-8", "ignore"))
        raise YamlTooComplex(f"larger than {limits.max_bytes // 1024} KiB", _mark_at(text, cut))
    if "\0" in text:
        raise YamlTooComplex("contains a NUL character", _mark_at(text, text.index("\0")))
    _prescan(text, limits)
    yaml = YAML(typ=typ, pure=True)
    yaml.Scanner = _limited_scanner(yaml.Scanner or Scanner, limits)
    yaml.Composer = _limited_composer(limits, time.thread_time() + limits.max_seconds)
    return yaml.load(text)


def describe(exc: YamlTooComplex) -> str:
    return f"refused before reading: {exc.problem}"
