"""Mosquitto ACL files (`acl_file`): who may publish to and receive from which topics.

The format (mosquitto.conf(5), src/security_default.c `aclfile__parse`):

    # comment
    topic [read|write|readwrite|deny] <filter>    rules before any `user` line: anonymous clients
    user <name>                                   the following `topic` rules are this user's
    pattern [read|write|readwrite|deny] <filter>  every client, wherever it stands; %u and %c are
                                                  replaced by the username and client id

Omitted access means readwrite. A filter may contain spaces ("topic read a b" is the filter "a b").

How a check works (publish needs write access to the topic name, delivery needs read access):
the rules that apply to the client are its `topic` rules (the anonymous block when it has no
username, its `user` block otherwise, nothing when it has a username without a block) plus every
`pattern` after substitution. A pattern using %u does not apply to a client without a username.
If any applicable rule matching the topic is `deny`, access is refused; otherwise access is
granted when a matching rule carries the access asked for. Nothing matches: refused.

Where this differs from Mosquitto 2.0.11, on purpose and always towards refusing:
- Mosquitto decides on the first matching `topic` rule before it looks at patterns, so a user's
  grant beats a `pattern deny`; here a matching deny anywhere wins.
- Mosquitto refuses all access (when patterns exist) to a client whose username or client id
  contains `+` or `#`; here a pattern whose %u/%c value is empty or contains `+`, `#` or `/`
  does not grant anything (a `pattern deny` with such a value refuses every topic), so "a/b"
  cannot borrow user "a"'s `dev/%u/#` subtree.

SUBSCRIBE is checked against the filter as a whole (issue 4: a denied SUBSCRIBE gets a failure
code in SUBACK, 0x87 in 5.0 [MQTT-3.9.3-1], 0x80 in 3.1.1). Mosquitto 2.0.11 instead grants every
subscription and only filters deliveries; we refuse earlier, and still check every delivery. For
a shared subscription "$share/<group>/<filter>" the check is on <filter>. A subscription is
granted when both hold:
- some applicable rule with read access *covers* the filter: every topic the filter matches is
  matched by the rule. Level by level: a rule's '#' covers anything below it; a rule's '+' covers a
  literal level or a '+'; a literal covers only the same literal; a subscription's '#' is covered
  only by a rule's '#'. So `topic read a/#` covers `a/+/b` and `a/#`; `topic read a/+` covers
  `a/x` and `a/+` but not `a/#`; wildcards at a rule's first level do not cover `$` topics.
- no applicable `deny` rule *overlaps* the filter: no topic is matched by both. So with
  `topic read a/#` and `topic deny a/secret`, `a/+` and `a/#` are refused, `a/public` is granted.
A `pattern deny` with an unsafe %u/%c value overlaps everything (fail closed, as for publish).
`revoke_forbidden_subscriptions()` in the core applies the same check after a SIGHUP reload.

Independent of the file (Mosquitto's acl__check_dollar): no client may publish to `$SYS` or
`$share` topics. `AclFile.allow_all()` is the policy without an ACL file; it keeps that rule.
"""

from __future__ import annotations

import enum
import logging
import os
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from gateway.broker.authfiles import AuthFileError, numbered_lines, read_text

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"%([uc])")
_UNSAFE_VALUE = re.compile(r"[+#/]")


class Access(enum.IntFlag):
    DENY = 0
    READ = 1
    WRITE = 2
    READWRITE = 3


_ACCESS_WORDS = {
    "read": Access.READ,
    "write": Access.WRITE,
    "readwrite": Access.READWRITE,
    "deny": Access.DENY,
}


@dataclass(frozen=True, slots=True)
class AclRule:
    topic_filter: str
    access: Access
    line: int = 0

    @property
    def is_deny(self) -> bool:
        return self.access == Access.DENY


class AclFile:
    """The parsed rules of one ACL file; checks are pure functions of (username, client id, topic)."""

    __slots__ = ("anonymous", "users", "patterns", "_enforcing")

    def __init__(
        self,
        anonymous: tuple[AclRule, ...] = (),
        users: Mapping[str, tuple[AclRule, ...]] | None = None,
        patterns: tuple[AclRule, ...] = (),
        *,
        enforcing: bool = True,
    ) -> None:
        self.anonymous = tuple(anonymous)
        self.users = MappingProxyType(dict(users or {}))
        self.patterns = tuple(patterns)
        self._enforcing = enforcing

    @classmethod
    def allow_all(cls) -> AclFile:
        """The policy when no ACL file is configured: everything except publishing to $SYS/$share."""
        return cls(enforcing=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AclFile:
        return cls.parse(read_text(path), source=path)

    @classmethod
    def parse(cls, text: str, source: str | os.PathLike[str] = "<string>") -> AclFile:
        return _Parser(source).parse(text)

    def can_publish(self, username: str | None, client_id: str, topic: str) -> bool:
        """May this client publish to the topic name `topic`? (write access)"""
        if _dollar_write_refused(topic):
            return False
        return self._allowed(username, client_id, topic, Access.WRITE)

    def can_receive(self, username: str | None, client_id: str, topic: str) -> bool:
        """May a message on topic name `topic` be delivered to this client? (read access)"""
        return self._allowed(username, client_id, topic, Access.READ)

    def can_subscribe(self, username: str | None, client_id: str, topic_filter: str) -> bool:
        """May this client hold a subscription to `topic_filter`? (see the module docstring)"""
        if not self._enforcing:
            return True
        inner = _share_inner(topic_filter)
        granted = False
        for rule, concrete in self._applicable(username, client_id):
            if rule.is_deny:
                if concrete is None or _filters_overlap(concrete, inner):
                    return False
            elif concrete is not None and rule.access & Access.READ and \
                    _filter_covers(concrete, inner):
                granted = True
        return granted

    def _applicable(self, username: str | None,
                    client_id: str) -> list[tuple[AclRule, str | None]]:
        """(rule, concrete filter) for every rule that applies to this client; None = the rule
        cannot be placed (unsafe %u/%c value): a deny then covers everything, a grant nothing."""
        out: list[tuple[AclRule, str | None]] = [(r, r.topic_filter) for r in self._rules_for(username)]
        values = {"u": username, "c": client_id}
        for rule in self.patterns:
            used = set(_PLACEHOLDER.findall(rule.topic_filter))
            if "u" in used and username is None:
                continue
            if any(_unsafe(values[name]) for name in used):
                out.append((rule, None))
                continue
            out.append((rule, _PLACEHOLDER.sub(lambda m: values[m.group(1)], rule.topic_filter)))
        return out

    def _allowed(self, username: str | None, client_id: str, topic: str, access: Access) -> bool:
        if not self._enforcing:
            return True
        matching = [
            rule
            for rule in self._rules_for(username)
            if _topic_matches(rule.topic_filter, topic)
        ]
        matching += [rule for rule in self.patterns if _pattern_matches(rule, username, client_id, topic)]
        if any(rule.is_deny for rule in matching):
            return False
        return any(access & rule.access for rule in matching)

    def _rules_for(self, username: str | None) -> tuple[AclRule, ...]:
        if username is None:
            return self.anonymous
        return self.users.get(username, ())


def _share_inner(topic_filter: str) -> str:
    """The filter of a shared subscription "$share/<group>/<filter>" (spec 4.8.2), else itself."""
    if topic_filter.startswith("$share/"):
        _, _, inner = topic_filter[len("$share/"):].partition("/")
        return inner
    return topic_filter


def _filter_covers(rule: str, sub: str) -> bool:
    """Is every topic matched by subscription filter `sub` also matched by rule filter `rule`?"""
    if rule == "+/#":
        rule = "#"  # the same set of topics: '#' never matches a zero-level topic at the top
    rule_levels, sub_levels = rule.split("/"), sub.split("/")
    dollar = sub_levels[0].startswith("$")
    for index, level in enumerate(rule_levels):
        if index == 0 and dollar and level in ("+", "#"):
            return False  # [MQTT-4.7.2-1] a rule's leading wildcard never matches $ topics
        if level == "#":
            return True
        if index >= len(sub_levels):
            return False
        wanted = sub_levels[index]
        if wanted == "#" or (level != "+" and level != wanted):
            return False  # '#' only under '#'; a literal covers only itself ('+' under '+'/'#')
    return len(rule_levels) == len(sub_levels)


def _filters_overlap(first: str, second: str) -> bool:
    """Is there a topic name that both filters match?"""
    a_levels, b_levels = first.split("/"), second.split("/")
    for index in range(max(len(a_levels), len(b_levels))):
        if index >= len(a_levels):
            return b_levels[index] == "#"  # "a" and "a/#" share the topic "a" (spec 4.7.1.2)
        if index >= len(b_levels):
            return a_levels[index] == "#"
        a, b = a_levels[index], b_levels[index]
        wild_a, wild_b = a in ("+", "#"), b in ("+", "#")
        if index == 0 and ((wild_a and b.startswith("$")) or (wild_b and a.startswith("$"))):
            return False  # [MQTT-4.7.2-1]
        if a == "#" or b == "#":
            return True
        if not (wild_a or wild_b or a == b):
            return False
    return True


def _dollar_write_refused(topic: str) -> bool:
    first_level = topic.split("/", 1)[0]
    return first_level in ("$SYS", "$share")


def _pattern_matches(rule: AclRule, username: str | None, client_id: str, topic: str) -> bool:
    used = set(_PLACEHOLDER.findall(rule.topic_filter))
    values = {"u": username, "c": client_id}
    if "u" in used and username is None:
        return False  # Mosquitto: a %u pattern does not apply to anonymous clients
    if any(_unsafe(values[name]) for name in used):
        return rule.is_deny  # fail closed: the deny cannot be placed, so it covers everything
    concrete = _PLACEHOLDER.sub(lambda m: values[m.group(1)], rule.topic_filter)
    return _topic_matches(concrete, topic)


def _unsafe(value: str | None) -> bool:
    return not value or _UNSAFE_VALUE.search(value) is not None


class _Parser:
    """Line by line, as aclfile__parse does; every error names the file and line."""

    def __init__(self, source: str | os.PathLike[str]) -> None:
        self.source = source
        self.user: str | None = None
        self.anonymous: list[AclRule] = []
        self.users: dict[str, list[AclRule]] = {}
        self.patterns: list[AclRule] = []

    def parse(self, text: str) -> AclFile:
        for number, line in numbered_lines(text):
            self._line(number, line)
        users = {name: tuple(rules) for name, rules in self.users.items()}
        return AclFile(tuple(self.anonymous), users, tuple(self.patterns))

    def _line(self, number: int, line: str) -> None:
        keyword, _, rest = line.partition(" ")
        rest = rest.strip()
        if keyword == "user":
            if not rest:
                raise AuthFileError(self.source, number, "'user' needs a username")
            self.user = rest
            self.users.setdefault(rest, [])
        elif keyword in ("topic", "pattern"):
            self._rule(number, keyword, rest)
        else:
            reason = f"unknown keyword {keyword!r} (expected topic, pattern or user)"
            raise AuthFileError(self.source, number, reason)

    def _rule(self, number: int, keyword: str, rest: str) -> None:
        rule = AclRule(*self._access_and_filter(number, keyword, rest), line=number)
        if keyword == "pattern":
            if not _PLACEHOLDER.search(rule.topic_filter):
                log.warning("%s:%d: pattern %r contains neither %%u nor %%c",
                            self.source, number, rule.topic_filter)
            self.patterns.append(rule)
        elif self.user is None:
            self.anonymous.append(rule)
        else:
            self.users[self.user].append(rule)

    def _access_and_filter(self, number: int, keyword: str, rest: str) -> tuple[str, Access]:
        first, _, topic_filter = rest.partition(" ")
        topic_filter = topic_filter.strip()
        if not first:
            raise AuthFileError(self.source, number, f"'{keyword}' needs a topic filter")
        if not topic_filter:
            topic_filter, access = first, Access.READWRITE
        elif first in _ACCESS_WORDS:
            access = _ACCESS_WORDS[first]
        else:
            raise AuthFileError(
                self.source, number, f"invalid access {first!r} (expected read, write, readwrite or deny)"
            )
        try:
            _check_topic_filter(topic_filter)
        except ValueError as exc:
            raise AuthFileError(self.source, number, str(exc)) from None
        return topic_filter, access


def _check_topic_filter(topic_filter: str) -> None:
    """Raise ValueError unless `topic_filter` is a valid MQTT topic filter (spec 4.7)."""
    if not topic_filter:
        raise ValueError("topic filter must not be empty")  # [MQTT-4.7.3-1]
    if "\x00" in topic_filter:
        raise ValueError(f"topic filter {topic_filter!r} contains U+0000")  # [MQTT-4.7.3-2]
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            # 5.0 [MQTT-4.7.1-1], 3.1.1 [MQTT-4.7.1-2]
            raise ValueError(f"invalid topic filter {topic_filter!r}: '#' must be a whole, last level")
        if "+" in level and level != "+":
            # 5.0 [MQTT-4.7.1-2], 3.1.1 [MQTT-4.7.1-3]
            raise ValueError(f"invalid topic filter {topic_filter!r}: '+' must be a whole level")


def _topic_matches(topic_filter: str, topic: str) -> bool:
    """Does topic name `topic` match `topic_filter`? (spec 4.7.1). Private on purpose rather
    than gateway.mqtt.topics.topic_matches: ACL filters match as written (a rule starting with
    "$share/" is literal, as in Mosquitto, not a shared subscription), and rules are validated
    once at load instead of on every check."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False  # [MQTT-4.7.2-1] wildcards at the first level do not match $ topics
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True  # '#' also matches the parent level (spec 4.7.1.2)
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)
