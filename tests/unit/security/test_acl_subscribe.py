"""SUBSCRIBE against the ACL: granted when the filter can deliver something, refused only when it
can deliver nothing.

`_intersect` and `can_subscribe` are checked against an obviously correct brute force over a
finite universe of topic names: every name of up to 4 levels over the letters the rules use, a
level no rule names ("z") and `$x`. Rules in these tests are at most 3 levels deep, so the
universe reaches one level past the deepest rule, where every depth behaves alike.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.broker.auth.acl import AclFile, _intersect
from gateway.mqtt.topics import filter_matches

LEVELS = ["a", "b", "z", "$x"]
TOPICS = [
    "/".join(p)
    for n in (1, 2, 3, 4)
    for p in itertools.product(LEVELS, repeat=n)
    if not any(level.startswith("$") for level in p[1:])
]
FILTER_LEVELS = ["a", "b", "$x", "+"]


@st.composite
def filters(draw, max_levels=3):
    with_hash = draw(st.booleans())
    levels = draw(
        st.lists(
            st.sampled_from(FILTER_LEVELS),
            min_size=0 if with_hash else 1,
            max_size=max_levels - 1 if with_hash else max_levels,
        )
    )
    levels = [levels[0]] + [lv.replace("$x", "a") for lv in levels[1:]] if levels else []
    return "/".join([*levels, "#"] if with_hash else levels)


def _matched(topic_filter):
    return {t for t in TOPICS if filter_matches(topic_filter, t)}


@settings(max_examples=400, deadline=None)
@given(first=filters(), second=filters())
def test_intersect_equals_brute_force_intersection(first, second):
    common = _intersect(first, second)
    expected = _matched(first) & _matched(second)
    assert (set() if common is None else _matched(common)) == expected


@st.composite
def acl_texts(draw):
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        access = draw(st.sampled_from(["read", "write", "readwrite", "deny"]))
        lines.append(f"topic {access} {draw(filters())}")
    if draw(st.booleans()):
        access = draw(st.sampled_from(["read", "deny"]))
        prefix = draw(st.sampled_from(["a", "+", "$x"]))
        suffix = draw(st.sampled_from(["", "/#", "/+"]))
        lines.append(f"pattern {access} {prefix}/%c{suffix}")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(text=acl_texts(), sub=filters(max_levels=3))
def test_subscribe_granted_exactly_when_some_topic_is_readable(text, sub):
    # the client id "b" lets %c patterns name a level of the universe
    acl = AclFile.parse(text)
    readable = [t for t in _matched(sub) if acl.can_receive(None, "b", t)]
    assert acl.can_subscribe(None, "b", sub) == bool(readable), readable


RULES = """\
topic read anon/#

user alice
topic read a/#
topic deny a/secret
topic write w/#
topic readwrite rw/+
topic read $SYS/broker/#
topic read dev/alice/locked/override

pattern read dev/%u/#
pattern read cl/%c/+
pattern deny dev/%u/locked/#

user home
topic readwrite #
topic deny secret/#
"""


@pytest.fixture(scope="module")
def acl():
    return AclFile.parse(RULES)


@pytest.mark.parametrize(
    ("user", "client", "topic_filter", "granted"),
    [
        ("home", "c", "#", True),  # issue 12: granted, and secret/... never delivered
        ("home", "c", "+/+", True),
        ("home", "c", "homeassistant/#", True),
        ("home", "c", "homeassistant/+/+/config", True),
        ("home", "c", "secret/#", False),  # wholly inside the deny rule
        ("home", "c", "secret/x", False),
        ("home", "c", "secret/+/y", False),
        ("home", "c", "+/x", True),  # secret/x is not readable, other/x is
        ("home", "c", "$SYS/#", False),  # '#' does not reach $ topics; nothing else does
        ("alice", "c", "a/#", True),  # partly readable: a/secret filtered per delivery
        ("alice", "c", "a/+", True),
        ("alice", "c", "a/secret", False),
        ("alice", "c", "a/public", True),
        ("alice", "c", "w/#", False),  # write-only
        ("alice", "c", "rw/#", True),  # rw/x is readable (rw/# also matches rw/x)
        ("alice", "c", "#", True),  # a/..., rw/..., dev/alice/... are readable
        ("alice", "c", "nothing/here", False),  # no read rule matches
        ("alice", "c", "$SYS/broker/load", True),
        ("alice", "c", "$share/g/a/public", True),  # shared: the inner filter is checked
        ("alice", "c", "$share/g/a/secret", False),
        (
            "alice",
            "c",
            "dev/alice/locked/#",
            True,
        ),  # the user's own topic grant beats the pattern deny
        ("alice", "c", "dev/alice/locked/x", False),  # only the pattern deny matches there
        ("alice", "c", "dev/alice/temp", True),
        ("alice", "c", "dev/bob/temp", False),
        ("alice", "c", "cl/c/x", True),
        ("alice", "c", "cl/other/x", False),
        (None, "c", "anon/x/#", True),
        (None, "c", "dev/alice/temp", False),  # %u patterns do not apply to anonymous clients
        (None, "c", "a/public", False),
        ("carol", "c", "cl/c/+", True),  # a user without a block: patterns only
        ("carol", "c", "anon/x", False),
        ("a/b", "c", "dev/a/b/x", False),  # unsafe %u: the grant cannot be placed
        ("carol", "c+", "cl/c+/x", False),  # a + in the client id: patterns refuse everything
        ("alice", "c#", "a/public", True),  # ... but the user's own topic rules still apply
    ],
)
def test_subscribe_rules(acl, user, client, topic_filter, granted):
    assert acl.can_subscribe(user, client, topic_filter) is granted


@pytest.mark.parametrize(
    ("user", "client", "topic", "readable"),
    [
        ("home", "c", "secret/x", False),
        ("home", "c", "other/x", True),
        ("alice", "c", "dev/alice/locked/override", True),  # user grant before pattern deny
        ("alice", "c", "dev/alice/locked/x", False),
        (
            "alice",
            "c#",
            "dev/alice/temp",
            False,
        ),  # Mosquitto: a '#' in the client id, patterns refuse
    ],
)
def test_read_check_follows_mosquittos_order(acl, user, client, topic, readable):
    assert acl.can_receive(user, client, topic) is readable


def test_without_an_acl_file_every_subscription_is_granted():
    assert AclFile.allow_all().can_subscribe(None, "c", "#")
