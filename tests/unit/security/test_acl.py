"""Mosquitto ACL files: every rule form, anonymous clients, patterns, deny, publish vs subscribe.

The protocol version does not enter these checks: the same calls serve 3.1.1 and 5.0 clients.
"""

from __future__ import annotations

import logging
import re

import pytest

from gateway.broker.auth.acl import Access, AclFile, AclRule
from gateway.broker.auth.files import AuthFileError

ACL = """\
# anonymous clients (rules before any user line)
topic read public/#
topic write public/inbox

user alice
topic readwrite alice/#
topic read shared/+/status
topic deny shared/secret/status
topic sensors/raw

user bob
topic write bob/out
topic read $SYS/broker/#

# patterns apply to every client, wherever they stand
pattern readwrite dev/%u/#
pattern write clients/%c/state
pattern deny dev/%u/locked
pattern read mixed/%u/%c
"""


@pytest.fixture
def acl(tmp_path):
    path = tmp_path / "acl"
    path.write_text(ACL)
    return AclFile.load(path)


def test_parsed_structure(acl):
    assert acl.anonymous == (
        AclRule("public/#", Access.READ, 2),
        AclRule("public/inbox", Access.WRITE, 3),
    )
    assert set(acl.users) == {"alice", "bob"}
    assert acl.users["alice"][3] == AclRule(
        "sensors/raw", Access.READWRITE, 9
    )  # access omitted = readwrite
    assert [r.topic_filter for r in acl.patterns] == [
        "dev/%u/#",
        "clients/%c/state",
        "dev/%u/locked",
        "mixed/%u/%c",
    ]


# --- topic rules: read / write / readwrite / omitted ---------------------------------------


def test_read_rule_allows_receive_not_publish(acl):
    assert acl.can_receive("alice", "c1", "shared/kitchen/status")
    assert not acl.can_publish("alice", "c1", "shared/kitchen/status")


def test_write_rule_allows_publish_not_receive(acl):
    assert acl.can_publish("bob", "c2", "bob/out")
    assert not acl.can_receive("bob", "c2", "bob/out")


def test_readwrite_and_omitted_access_allow_both(acl):
    for topic in ("alice/a/b", "alice", "sensors/raw"):
        assert acl.can_publish("alice", "c1", topic)
        assert acl.can_receive("alice", "c1", topic)


def test_unmatched_topic_is_refused(acl):
    assert not acl.can_publish("alice", "c1", "elsewhere")
    assert not acl.can_receive("alice", "c1", "elsewhere")
    assert not acl.can_receive("alice", "c1", "sensors/raw/extra")


def test_user_rules_belong_to_that_user_only(acl):
    assert not acl.can_publish("bob", "c2", "alice/x")
    assert not acl.can_publish("alice", "c1", "bob/out")


# --- anonymous -------------------------------------------------------------------------------


def test_rules_before_any_user_line_apply_to_anonymous_clients(acl):
    assert acl.can_receive(None, "anon", "public/news")
    assert acl.can_publish(None, "anon", "public/inbox")
    assert not acl.can_publish(None, "anon", "public/news")


def test_anonymous_rules_do_not_apply_to_named_users(acl):
    assert not acl.can_receive("alice", "c1", "public/news")


def test_user_without_a_section_gets_patterns_only(acl):
    assert not acl.can_receive("carol", "c3", "public/news")
    assert acl.can_publish("carol", "c3", "dev/carol/temp")


# --- patterns --------------------------------------------------------------------------------


def test_pattern_substitutes_username(acl):
    assert acl.can_publish("carol", "c3", "dev/carol/temp")
    assert acl.can_receive("carol", "c3", "dev/carol/a/b")
    assert not acl.can_publish("carol", "c3", "dev/dave/temp")


def test_pattern_substitutes_client_id_also_for_anonymous(acl):
    assert acl.can_publish(None, "plug-7", "clients/plug-7/state")
    assert not acl.can_publish(None, "plug-7", "clients/plug-8/state")
    assert not acl.can_receive(None, "plug-7", "clients/plug-7/state")  # write-only pattern


def test_username_pattern_does_not_apply_to_anonymous(acl):
    assert not acl.can_publish(None, "c", "dev/%u/x")
    assert not acl.can_publish(None, "c", "dev//x")


def test_pattern_with_both_placeholders(acl):
    assert acl.can_receive("carol", "c3", "mixed/carol/c3")
    assert not acl.can_receive("carol", "c4", "mixed/carol/c3")


@pytest.mark.parametrize("username", ["a/b", "a+", "#", ""])
def test_username_with_wildcards_or_slash_never_matches_a_pattern(acl, username):
    # "a/b" would otherwise own dev/a/b/#, inside user "a"'s subtree dev/a/#.
    assert not acl.can_publish(username, "c", f"dev/{username}/x")
    assert not acl.can_publish(username, "c", "dev/a/b/x")


@pytest.mark.parametrize("client_id", ["x/y", "x+", "x#"])
def test_client_id_with_wildcards_or_slash_never_matches_a_pattern(acl, client_id):
    assert not acl.can_publish(None, client_id, f"clients/{client_id}/state")
    assert not acl.can_publish(None, client_id, "clients/x/y/state")


def test_unsafe_value_in_a_deny_pattern_fails_closed():
    acl = AclFile.parse("pattern readwrite open/%c/#\npattern deny open/%u\n")
    assert not acl.can_publish("a/b", "c", "open/c/anything")
    assert acl.can_publish("ab", "c", "open/c/x")


def test_pattern_placeholder_may_sit_inside_a_level():
    acl = AclFile.parse("pattern write dev/home_%c/state\n")
    assert acl.can_publish(None, "k1", "dev/home_k1/state")
    assert not acl.can_publish(None, "k2", "dev/home_k1/state")


def test_pattern_without_placeholder_logs_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.broker.auth.acl"):
        AclFile.parse("pattern read plain/topic\n", source="acl.conf")
    assert "acl.conf:1: pattern 'plain/topic' contains neither %u nor %c" in caplog.text


# --- deny -------------------------------------------------------------------------------------


def test_deny_topic_rule_overrides_a_broader_grant(acl):
    assert acl.can_receive("alice", "c1", "shared/garage/status")
    assert not acl.can_receive("alice", "c1", "shared/secret/status")


def test_deny_pattern_overrides_pattern_grant(acl):
    assert acl.can_publish("carol", "c3", "dev/carol/open")
    assert not acl.can_publish("carol", "c3", "dev/carol/locked")
    assert not acl.can_receive("carol", "c3", "dev/carol/locked")


def test_user_topic_grant_beats_a_deny_pattern_as_in_mosquitto():
    # Mosquitto 2.0.11 decides on the client's own topic rules before it looks at patterns
    acl = AclFile.parse(
        "user carol\ntopic readwrite #\npattern deny private/%c/#\npattern read private/%c/#\n"
    )
    assert acl.can_publish("carol", "c3", "private/c3/x")
    assert not acl.can_receive("dave", "c3", "private/c3/x")  # no topic rules: the deny decides


def test_deny_order_in_the_file_does_not_matter():
    before = AclFile.parse("topic deny a/b\ntopic readwrite a/#\n")
    after = AclFile.parse("topic readwrite a/#\ntopic deny a/b\n")
    for acl in (before, after):
        assert not acl.can_publish(None, "c", "a/b")
        assert acl.can_publish(None, "c", "a/c")


# --- subscribe vs publish (issue 12: refused only when nothing is readable; more in
# test_acl_subscribe) -------------------------------------------------------------------------


def test_subscribe_granted_when_partly_readable_and_delivery_is_still_checked(acl):
    assert not acl.can_subscribe("bob", "c2", "bob/#")  # bob may only write there
    assert acl.can_subscribe("alice", "c1", "shared/#")  # shared/a/status is readable
    assert acl.can_subscribe("alice", "c1", "shared/a/status")
    assert acl.can_subscribe("alice", "c1", "shared/+/status")
    assert not acl.can_subscribe("alice", "c1", "shared/secret/status")
    assert acl.can_receive("alice", "c1", "shared/a/status")
    assert not acl.can_receive("alice", "c1", "shared/secret/status")


# --- $ topics --------------------------------------------------------------------------------


def test_wildcard_rules_do_not_reach_dollar_topics_mqtt_4_7_2_1():
    acl = AclFile.parse("topic readwrite #\ntopic read +/broker/uptime\n")
    assert acl.can_receive(None, "c", "any/thing")
    assert not acl.can_receive(None, "c", "$SYS/broker/uptime")


def test_explicit_dollar_rule_grants_read(acl):
    assert acl.can_receive("bob", "c2", "$SYS/broker/uptime")


@pytest.mark.parametrize("topic", ["$SYS/broker/uptime", "$SYS", "$share/g/t"])
def test_publishing_to_sys_or_share_is_always_refused(topic):
    acl = AclFile.parse("topic readwrite $SYS/#\ntopic readwrite $share/#\ntopic readwrite $SYS\n")
    assert not acl.can_publish(None, "c", topic)
    assert not AclFile.allow_all().can_publish("u", "c", topic)


def test_allow_all_allows_ordinary_topics():
    acl = AclFile.allow_all()
    assert acl.can_publish(None, "c", "a/b")
    assert acl.can_receive("u", "c", "$SYS/broker/uptime")


# --- parsing ---------------------------------------------------------------------------------


def test_filter_may_contain_spaces_and_blank_runs():
    acl = AclFile.parse("topic   read   living room/temp  \n")
    assert acl.anonymous == (AclRule("living room/temp", Access.READ, 1),)


def test_user_sections_repeat_and_merge():
    acl = AclFile.parse("user a\ntopic read x\nuser b\ntopic read y\nuser a\ntopic read z\n")
    assert [r.topic_filter for r in acl.users["a"]] == ["x", "z"]


def test_empty_file_refuses_everything():
    acl = AclFile.parse("# nothing\n")
    assert not acl.can_publish(None, "c", "a")
    assert not acl.can_receive("u", "c", "a")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("topic", "needs a topic filter"),
        ("user", "needs a username"),
        ("topic readonly a/b", "invalid access 'readonly'"),
        ("topic a b", "invalid access 'a'"),
        ("topik read a", "unknown keyword 'topik'"),
        ("topic read a/#/b", "'#' must be a whole, last level"),
        ("topic read a/b#", "'#' must be a whole, last level"),
        ("pattern read a/%u+", "'+' must be a whole level"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, reason):
    path = tmp_path / "acl"
    path.write_text(f"# header\n\n{line}\n")
    with pytest.raises(AuthFileError, match=re.escape(reason)) as info:
        AclFile.load(path)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: ")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(AuthFileError, match="does not exist"):
        AclFile.load(tmp_path / "absent")
