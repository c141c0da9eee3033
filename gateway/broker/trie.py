"""Subscription trie: topic filters in, matching subscribers out.

How this works: each filter level is a node; `+` and `#` are ordinary children with special meaning
at match time. A node holds the plain subscribers (client id -> options) of the filter that ends there
and the shared groups (`$share/<group>/<filter>`) that end there. `match(topic)` walks the topic's
levels, following the exact child, the `+` child and collecting `#` children; a topic starting with
`$` is not matched by a leading `+` or `#` [MQTT-4.7.2-1].

Matching results are cached per topic and the cache is dropped whenever a subscription changes, so a
busy topic costs one dict lookup per message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class _Node(Generic[T]):
    path: str = ""
    children: dict[str, _Node[T]] = field(default_factory=dict)
    subscribers: dict[str, T] = field(default_factory=dict)
    shared: dict[str, dict[str, T]] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.children or self.subscribers or self.shared)


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    """The subscriptions one topic matches: plain (client id, options) pairs, one per matching
    filter, and shared groups as (group key, {client id: options})."""

    plain: tuple[tuple[str, T], ...]
    shared: tuple[tuple[str, dict[str, T]], ...]


_CACHE_LIMIT = 4096


class SubscriptionTrie(Generic[T]):
    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self._cache: dict[str, Match[T]] = {}
        self.count = 0

    def add(self, topic_filter: str, client_id: str, options: T, group: str | None = None) -> bool:
        """Add or replace; returns True when the subscription is new."""
        node = self._root
        for level in topic_filter.split("/"):
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node(f"{node.path}/{level}" if node.path else level)
            node = child
        bucket = node.subscribers if group is None else node.shared.setdefault(group, {})
        is_new = client_id not in bucket
        bucket[client_id] = options
        self.count += is_new
        self._cache.clear()
        return is_new

    def remove(self, topic_filter: str, client_id: str, group: str | None = None) -> bool:
        """Remove; returns True when there was such a subscription."""
        path = [self._root]
        for level in topic_filter.split("/"):
            child = path[-1].children.get(level)
            if child is None:
                return False
            path.append(child)
        node = path[-1]
        bucket = node.subscribers if group is None else node.shared.get(group, {})
        if bucket.pop(client_id, None) is None:
            return False
        if group is not None and not bucket:
            del node.shared[group]
        self._prune(path, topic_filter.split("/"))
        self.count -= 1
        self._cache.clear()
        return True

    def _prune(self, path: list[_Node[T]], levels: list[str]) -> None:
        for depth in range(len(levels), 0, -1):
            if not path[depth].is_empty():
                return
            del path[depth - 1].children[levels[depth - 1]]

    def match(self, topic: str) -> Match[T]:
        cached = self._cache.get(topic)
        if cached is not None:
            return cached
        plain: list[tuple[str, T]] = []
        shared: list[tuple[str, dict[str, T]]] = []
        levels = topic.split("/")
        for node in self._walk(self._root, levels, 0):
            plain.extend(node.subscribers.items())
            shared.extend(
                (f"{group}/{node.path}", members) for group, members in node.shared.items()
            )
        result = Match(tuple(plain), tuple(shared))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[topic] = result
        return result

    def _walk(self, node: _Node[T], levels: list[str], depth: int) -> Iterator[_Node[T]]:
        dollar = depth == 0 and levels[0].startswith("$")
        hash_child = node.children.get("#")
        if hash_child is not None and not dollar:  # [MQTT-4.7.1-2] '#' also matches the parent
            yield hash_child
        if depth == len(levels):
            yield node
            return
        exact = node.children.get(levels[depth])
        if exact is not None:
            yield from self._walk(exact, levels, depth + 1)
        plus = node.children.get("+")
        if plus is not None and not dollar:  # [MQTT-4.7.2-1] no leading wildcard on $-topics
            yield from self._walk(plus, levels, depth + 1)

    def subscriptions(self) -> Iterator[tuple[str, str, str | None, T]]:
        """Every (filter, client id, group, options), for diagnostics and persistence."""
        stack: list[tuple[_Node[T], list[str]]] = [(self._root, [])]
        while stack:
            node, levels = stack.pop()
            topic_filter = "/".join(levels)
            for client_id, options in node.subscribers.items():
                yield topic_filter, client_id, None, options
            for group, members in node.shared.items():
                for client_id, options in members.items():
                    yield topic_filter, client_id, group, options
            stack.extend((child, [*levels, name]) for name, child in node.children.items())
