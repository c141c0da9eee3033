"""SUBSCRIBE against the ACL: a read rule must cover the filter, no deny rule may overlap it.

The coverage and overlap helpers are checked against an obviously correct brute force over a
small universe of topic names (every name of up to 3 levels over a 3-letter alphabet plus `$x`).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.broker.acl import AclFile, _filter_covers, _filters_overlap, _topic_matches

LEVELS = ["a", "b", "$x"]
TOPICS = ["/".join(p) for n in (1, 2, 3) for p in itertools.product(LEVELS, repeat=n)
          if not any(level.startswith("$") for level in p[1:])]
FILTER_LEVELS = ["a", "b", "$x", "+"]


@st.composite
def filters(draw):
    with_hash = draw(st.booleans())
    levels = draw(st.lists(st.sampled_from(FILTER_LEVELS), min_size=0 if with_hash else 1,
                           max_size=2 if with_hash else 3))
    levels = [levels[0]] + [lv.replace("$x", "a") for lv in levels[1:]] if levels else []
    return "/".join(levels + ["#"] if with_hash else levels)


def _matched(topic_filter):
    return {t for t in TOPICS if _topic_matches(topic_filter, t)}


@settings(max_examples=300, deadline=None)
@given(rule=filters(), sub=filters())
def test_covers_equals_brute_force_subset(rule, sub):
    # every topic within depth 3 that `sub` matches is matched by `rule`, and no deeper topic
    # escapes: a subscription '#' is only covered by a rule '#' at or above it
    brute = _matched(sub) <= _matched(rule) and not (sub.endswith("#") and not rule.endswith("#")
                                                     and _matched(sub))
    assert _filter_covers(rule, sub) == brute


@settings(max_examples=300, deadline=None)
@given(first=filters(), second=filters())
def test_overlap_equals_brute_force_intersection(first, second):
    assert _filters_overlap(first, second) == bool(_matched(first) & _matched(second))
    assert _filters_overlap(first, second) == _filters_overlap(second, first)


RULES = """\
topic read anon/#

user alice
topic read a/#
topic deny a/secret
topic write w/#
topic readwrite rw/+
topic read $SYS/broker/#

pattern read dev/%u/#
pattern read cl/%c/+
pattern deny dev/%u/locked/#
"""


@pytest.fixture(scope="module")
def acl():
    return AclFile.parse(RULES)


@pytest.mark.parametrize(("user", "client", "topic_filter", "granted"), [
    ("alice", "c", "a/#", False),        # overlaps topic deny a/secret
    ("alice", "c", "a/+", False),        # overlaps it too
    ("alice", "c", "a/public", True),
    ("alice", "c", "a/+/x", True),       # '+' under '#'; a/secret/x is not a/secret
    ("alice", "c", "w/#", False),        # write-only
    ("alice", "c", "rw/x", True),
    ("alice", "c", "rw/+", True),        # '+' under '+'
    ("alice", "c", "rw/#", False),       # '#' only under '#'
    ("alice", "c", "#", False),
    ("alice", "c", "$SYS/broker/load", True),
    ("alice", "c", "$share/g/a/public", True),  # shared: the inner filter is checked
    ("alice", "c", "$share/g/a/#", False),
    ("alice", "c", "dev/alice/#", False),  # overlaps pattern deny dev/%u/locked/#
    ("alice", "c", "dev/alice/temp", True),
    ("alice", "c", "dev/bob/temp", False),
    ("alice", "c", "cl/c/x", True),
    ("alice", "c", "cl/other/x", False),
    (None, "c", "anon/x/#", True),
    (None, "c", "dev/alice/temp", False),  # %u patterns do not apply to anonymous clients
    (None, "c", "a/public", False),
    ("carol", "c", "cl/c/+", True),       # a user without a block: patterns only
    ("carol", "c", "anon/x", False),
    ("a/b", "c", "dev/a/b/x", False),     # unsafe %u: the grant cannot be placed
    ("a+", "c", "cl/c/x", False),         # unsafe %u in a deny: fail closed, everything refused
])
def test_subscribe_rules(acl, user, client, topic_filter, granted):
    assert acl.can_subscribe(user, client, topic_filter) is granted


def test_without_an_acl_file_every_subscription_is_granted():
    assert AclFile.allow_all().can_subscribe(None, "c", "#")
