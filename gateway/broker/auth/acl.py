"""Mosquitto ACL files (`acl_file`): who may publish to and receive from which topics.

The format (mosquitto.conf(5), src/security_default.c `aclfile__parse`):

    # comment
    topic [read|write|readwrite|deny] <filter>    rules before any `user` line: anonymous clients
    user <name>                                   the following `topic` rules are this user's
    pattern [read|write|readwrite|deny] <filter>  every client, wherever it stands; %u and %c are
                                                  replaced by the username and client id

Omitted access means readwrite. A filter may contain spaces ("topic read a b" is the filter "a b").

How a check works (publish needs write access to the topic name, delivery needs read access),
in Mosquitto 2.0's order (src/security_default.c): the client's `topic` rules are those of the
anonymous block when it has no username, of its `user` block otherwise, none when it has a
username without a block.
1. A `topic ... deny` rule of the client matching the topic: refused.
2. A `topic` rule of the client matching the topic with the access asked for: granted.
3. If any `pattern` exists and the username or client id contains `+` or `#`: refused.
4. A `pattern ... deny` matching the topic after substitution: refused.
5. A `pattern` matching with the access asked for: granted. 6. Otherwise: refused.
So a user's own `topic` grant beats a `pattern deny`, as in Mosquitto. A pattern using %u does
not apply to a client without a username. %u / %c are replaced by the username / client id.

Where this differs from Mosquitto 2.0.11, on purpose and towards refusing: a pattern whose %u/%c
value is empty or contains `/` grants nothing, and a `pattern deny` with such a value refuses
every topic at step 4 (fail closed), so "a/b" cannot borrow user "a"'s `dev/%u/#` subtree.

SUBSCRIBE (Mosquitto 2.0.11 grants every SUBSCRIBE and filters each delivery; so do we, with one
difference): a SUBSCRIBE is granted when its filter *can deliver something*, i.e. some topic name
it matches passes the read check above, and every delivery is then checked on its own, retained
ones included. `#`, `+/+` and `homeassistant/#` under `topic readwrite #` + `topic deny secret/#`
are granted and never deliver `secret/...`. Only a filter that can deliver nothing is refused
(SUBACK 0x87 in 5.0, 0x80 in 3.1.1 [MQTT-3.9.3-1]): one that no applicable read rule matches,
or that lies wholly inside deny rules (`secret/x`, `secret/#`). Mosquitto grants those and then
delivers nothing, which leaves the client guessing; refusing it says so at once and never refuses a
filter that could deliver something. For a shared subscription "$share/<group>/<filter>" the check
is on <filter>.

How "can deliver something" is decided exactly (`_can_deliver`): a granted delivery is granted by
some read rule G, so it is a topic of F ∩ G (`_intersect`: the intersection of two filters is a
filter). Within F ∩ G, a topic whose wildcard levels hold a value no rule names ("\0") is matched
by a subset of the rules that match any other topic of the same depth, so it is the easiest to
grant; depths beyond the deepest rule behave alike. So it suffices to try, for each read rule, those
few witness topics (one per depth up to the deepest rule + 1) with the ordinary read check: exact,
and bounded by rules x depth per SUBSCRIBE.

After a SIGHUP reload nothing is revoked: a subscription that is still partly readable keeps
delivering what is readable, one that can no longer deliver anything stays in the session and
delivers nothing (each delivery is checked against the new rules) and is named in a warning, so
that a fixed ACL file makes it deliver again without the client having to know. This is what
Mosquitto does; removing it would be silent to the client (MQTT has no server-side UNSUBSCRIBE).

Independent of the file (Mosquitto's acl__check_dollar): no client may publish to `$SYS` or
`$share` topics. `AclFile.allow_all()` is the policy without an ACL file; it keeps that rule.
The in-process clients (gateway.broker.local_link) are not subject to the ACL at all.
"""

from __future__ import annotations

import enum
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.broker.auth.files import AuthFileError, numbered_lines, read_text
from gateway.mqtt.topics import filter_matches

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

    __slots__ = ("_cache", "_enforcing", "anonymous", "patterns", "users")

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
        self._cache: dict[tuple[str | None, str], _ClientRules] = {}

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
        """May this client hold a subscription to `topic_filter`? True when the filter can
        deliver something (see the module docstring)."""
        if not self._enforcing:
            return True
        return self._can_deliver(username, client_id, _share_inner(topic_filter))

    def _can_deliver(self, username: str | None, client_id: str, topic_filter: str) -> bool:
        rules = self._client_rules(username, client_id)
        if not rules.grants:
            return False
        tried: set[str] = set()
        for grant in rules.grants:
            common = _intersect(topic_filter, grant)
            if common is None or common in tried:
                continue
            tried.add(common)
            if any(rules.allowed(topic, Access.READ) for topic in _witnesses(common, rules.depth)):
                return True
        return False

    def _allowed(self, username: str | None, client_id: str, topic: str, access: Access) -> bool:
        if not self._enforcing:
            return True
        return self._client_rules(username, client_id).allowed(topic, access)

    def _client_rules(self, username: str | None, client_id: str) -> _ClientRules:
        """The rules that apply to this client, %u/%c substituted; cached (the file is
        immutable: a reload makes a new AclFile), at most _CACHE_LIMIT clients."""
        key = (username, client_id)
        rules = self._cache.get(key)
        if rules is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            rules = self._cache[key] = _ClientRules.build(self, username, client_id)
        return rules

    def rules_for(self, username: str | None) -> tuple[AclRule, ...]:
        """The rules of `username`'s block (None: the anonymous block), patterns aside."""
        if username is None:
            return self.anonymous
        return self.users.get(username, ())


_CACHE_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class _ClientRules:
    """One client's view of the file: its own `topic` rules and the patterns placed for it."""

    own: tuple[AclRule, ...]
    patterns: tuple[tuple[AclRule, str | None], ...]  # None: unsafe %u/%c value, cannot be placed
    patterns_refused: bool  # patterns exist and a name holds + or #: they refuse everything
    grants: tuple[str, ...]  # the concrete filters of every rule with read access
    depth: int  # levels of the deepest rule

    @classmethod
    def build(cls, acl: AclFile, username: str | None, client_id: str) -> _ClientRules:
        own = acl.rules_for(username)
        values = {"c": client_id} if username is None else {"u": username, "c": client_id}
        patterns: list[tuple[AclRule, str | None]] = []
        for rule in acl.patterns:
            used = set(_PLACEHOLDER.findall(rule.topic_filter))
            if "u" in used and "u" not in values:
                continue  # Mosquitto: a %u pattern does not apply to anonymous clients
            if any(_unsafe(values[name]) for name in used):
                patterns.append((rule, None))
                continue
            patterns.append(
                (rule, _PLACEHOLDER.sub(lambda m: values[m.group(1)], rule.topic_filter))
            )
        concrete = [r.topic_filter for r in own] + [c for _, c in patterns if c is not None]
        grants = [r.topic_filter for r in own if r.access & Access.READ]
        grants += [c for r, c in patterns if c is not None and r.access & Access.READ]
        refused = bool(acl.patterns) and (_dangerous(username) or _dangerous(client_id))
        return cls(
            own,
            tuple(patterns),
            refused,
            tuple(grants),
            max((len(c.split("/")) for c in concrete), default=0),
        )

    def allowed(self, topic: str, access: Access) -> bool:
        """Mosquitto's order: the client's topic rules (deny, then grant), then patterns."""
        own = [rule for rule in self.own if filter_matches(rule.topic_filter, topic)]
        if any(rule.is_deny for rule in own):
            return False
        if any(access & rule.access for rule in own):
            return True
        if not self.patterns or self.patterns_refused:
            return False  # Mosquitto: a + or # in either name refuses what patterns would decide
        # a deny that cannot be placed matches everything (fail closed), a grant nothing
        matching = [
            rule
            for rule, concrete in self.patterns
            if (rule.is_deny if concrete is None else filter_matches(concrete, topic))
        ]
        if any(rule.is_deny for rule in matching):
            return False
        return any(access & rule.access for rule in matching)


def _share_inner(topic_filter: str) -> str:
    """The filter of a shared subscription "$share/<group>/<filter>" (spec 4.8.2), else itself."""
    if topic_filter.startswith("$share/"):
        _, _, inner = topic_filter[len("$share/") :].partition("/")
        return inner
    return topic_filter


_FRESH = "\x00"  # a topic level no rule can name (filters may not contain U+0000)


def _intersect(first: str, second: str) -> str | None:
    """The filter matching exactly the topics both filters match, or None when there is none."""
    a_levels, b_levels = first.split("/"), second.split("/")
    out: list[str] = []
    for index in range(max(len(a_levels), len(b_levels))):
        a = a_levels[index] if index < len(a_levels) else None
        b = b_levels[index] if index < len(b_levels) else None
        if index == 0 and (
            (a in ("+", "#") and b is not None and b.startswith("$"))
            or (b in ("+", "#") and a is not None and a.startswith("$"))
        ):
            return None  # [MQTT-4.7.2-1] a leading wildcard never matches a $ topic
        if a == "#":
            return "/".join(out + b_levels[index:])  # '#' also matches the parent level
        if b == "#":
            return "/".join(out + a_levels[index:])
        if a is None or b is None:
            return None
        if a == "+":
            out.append(b)
        elif b == "+" or a == b:
            out.append(a)
        else:
            return None
    return "/".join(out)


def _witnesses(topic_filter: str, depth: int) -> list[str]:
    """Topic names of `topic_filter` that are matched by as few rules as any of its topics can
    be: each wildcard level holds a value no rule names; a '#' is tried at every length up to
    one past the deepest rule (`depth` levels), beyond which every length behaves alike."""
    levels = [_FRESH if level == "+" else level for level in topic_filter.split("/")]
    if levels[-1] != "#":
        return ["/".join(levels)]
    prefix = levels[:-1]
    return [
        "/".join(prefix + [_FRESH] * extra)
        for extra in range(0 if prefix else 1, max(depth - len(prefix), 0) + 2)
    ]


def _dollar_write_refused(topic: str) -> bool:
    first_level = topic.split("/", 1)[0]
    return first_level in ("$SYS", "$share")


def _dangerous(name: str | None) -> bool:
    return name is not None and ("+" in name or "#" in name)


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
                log.warning(
                    "%s:%d: pattern %r contains neither %%u nor %%c",
                    self.source,
                    number,
                    rule.topic_filter,
                )
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
                self.source,
                number,
                f"invalid access {first!r} (expected read, write, readwrite or deny)",
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
            raise ValueError(
                f"invalid topic filter {topic_filter!r}: '#' must be a whole, last level"
            )
        if "+" in level and level != "+":
            # 5.0 [MQTT-4.7.1-2], 3.1.1 [MQTT-4.7.1-3]
            raise ValueError(f"invalid topic filter {topic_filter!r}: '+' must be a whole level")
