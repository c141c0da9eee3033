"""Retained messages: one per topic, replaced by the next retained PUBLISH, cleared by an empty one.

Lookups by filter walk a topic-level tree, so a SUBSCRIBE to `a/+/c` visits only matching branches
instead of every retained topic. `$`-topics are not matched by a leading wildcard [MQTT-4.7.2-1].
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from gateway.broker.message import Message


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    message: Message | None = None


class RetainedStore:
    def __init__(self, limit: int = 10_000) -> None:
        self._root = _Node()
        self.limit = limit
        self.count = 0

    def set(self, message: Message) -> bool:
        """Store, replace or (empty payload [MQTT-3.3.1-10]) clear; False when the store is full."""
        levels = message.topic.split("/")
        if not message.payload:
            self._clear(levels)
            return True
        node = self._root
        for level in levels:
            node = node.children.setdefault(level, _Node())
        if node.message is None:
            if self.count >= self.limit:
                return False
            self.count += 1
        node.message = message
        return True

    def _clear(self, levels: list[str]) -> None:
        path = [self._root]
        for level in levels:
            child = path[-1].children.get(level)
            if child is None:
                return
            path.append(child)
        if path[-1].message is None:
            return
        path[-1].message = None
        self.count -= 1
        for depth in range(len(levels), 0, -1):
            node = path[depth]
            if node.children or node.message is not None:
                break
            del path[depth - 1].children[levels[depth - 1]]

    def get(self, topic: str) -> Message | None:
        node = self._root
        for level in topic.split("/"):
            child = node.children.get(level)
            if child is None:
                return None
            node = child
        return node.message

    def matching(self, topic_filter: str) -> Iterator[Message]:
        yield from self._walk(self._root, topic_filter.split("/"), 0)

    def _walk(self, node: _Node, levels: list[str], depth: int) -> Iterator[Message]:
        if depth == len(levels):
            if node.message is not None:
                yield node.message
            return
        level = levels[depth]
        if level == "#":
            yield from self._all(node, skip_dollar=depth == 0)
        elif level == "+":
            for name, child in list(node.children.items()):
                if depth == 0 and name.startswith("$"):
                    continue
                yield from self._walk(child, levels, depth + 1)
        else:
            exact = node.children.get(level)
            if exact is not None:
                yield from self._walk(exact, levels, depth + 1)

    def _all(self, node: _Node, skip_dollar: bool) -> Iterator[Message]:
        if node.message is not None and not skip_dollar:  # '#' matches the parent level too
            yield node.message
        for name, child in list(node.children.items()):
            if skip_dollar and name.startswith("$"):
                continue
            yield from self._all(child, False)

    def purge_expired(self, now: float) -> int:
        expired = [m for m in self._all(self._root, False) if m.expired(now)]
        for message in expired:
            self._clear(message.topic.split("/"))
        return len(expired)

    def __iter__(self) -> Iterator[Message]:
        return self._all(self._root, False)
