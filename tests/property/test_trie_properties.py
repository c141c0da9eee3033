"""The subscription trie and the retained store agree with the slow, obviously-correct matcher."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.broker.message import Message
from gateway.broker.retained import RetainedStore
from gateway.broker.trie import SubscriptionTrie
from gateway.mqtt.enums import QoS
from gateway.mqtt.topics import topic_matches

LEVELS = st.sampled_from(["a", "b", "c", "", "$SYS", "x y"])
TOPICS = st.lists(LEVELS, min_size=1, max_size=4).map("/".join).filter(bool)  # [MQTT-4.7.3-1]


@st.composite
def filters(draw):
    levels = draw(
        st.lists(st.sampled_from(["a", "b", "c", "", "$SYS", "+"]), min_size=1, max_size=4)
    )
    if draw(st.booleans()):
        levels.append("#")
    return "/".join(levels) or "+"  # an empty filter is invalid [MQTT-4.7.3-1]


@settings(max_examples=400, deadline=None)
@given(st.lists(filters(), min_size=1, max_size=12), st.lists(TOPICS, min_size=1, max_size=8))
def test_trie_matches_exactly_what_the_slow_matcher_matches(subscriptions, topics):
    trie: SubscriptionTrie[int] = SubscriptionTrie()
    for i, topic_filter in enumerate(subscriptions):
        trie.add(topic_filter, f"c{i}", i)
    for topic in topics:
        got = sorted(opts for _, opts in trie.match(topic).plain)
        expected = [i for i, f in enumerate(subscriptions) if topic_matches(f, topic)]
        assert got == expected, (topic, subscriptions)


@settings(max_examples=300, deadline=None)
@given(st.lists(filters(), min_size=1, max_size=10), st.data())
def test_trie_after_removals_matches_the_remaining_filters(subscriptions, data):
    trie: SubscriptionTrie[int] = SubscriptionTrie()
    for i, topic_filter in enumerate(subscriptions):
        trie.add(topic_filter, f"c{i}", i)
    removed = data.draw(st.sets(st.integers(0, len(subscriptions) - 1)))
    for i in removed:
        assert trie.remove(subscriptions[i], f"c{i}")
    topic = data.draw(TOPICS)
    got = sorted(opts for _, opts in trie.match(topic).plain)
    expected = [
        i for i, f in enumerate(subscriptions) if i not in removed and topic_matches(f, topic)
    ]
    assert got == expected
    assert trie.count == len(subscriptions) - len(removed)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOPICS, min_size=1, max_size=10, unique=True), filters())
def test_retained_lookup_matches_the_slow_matcher(topics, topic_filter):
    store = RetainedStore()
    for topic in topics:
        store.set(Message(topic, b"x", QoS.AT_MOST_ONCE, True))
    got = sorted(m.topic for m in store.matching(topic_filter))
    assert got == sorted(t for t in topics if topic_matches(topic_filter, t))


@settings(max_examples=200, deadline=None)
@given(st.lists(TOPICS, min_size=1, max_size=10, unique=True), st.data())
def test_retained_clear_by_empty_payload(topics, data):
    store = RetainedStore()
    for topic in topics:
        store.set(Message(topic, b"x", QoS.AT_MOST_ONCE, True))
    cleared = data.draw(st.sets(st.sampled_from(topics)))
    for topic in cleared:
        store.set(Message(topic, b"", QoS.AT_MOST_ONCE, True))
    assert sorted(m.topic for m in store) == sorted(set(topics) - cleared)
    assert store.count == len(topics) - len(cleared)
