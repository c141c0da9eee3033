"""The reload interface shared by every component: outcomes, one result per component, and the
by-name comparison of two configs' lists."""

from dataclasses import dataclass

from gateway.reload import ComponentResult, Outcome, diff_named


@dataclass(frozen=True)
class Item:
    name: str
    value: int


def test_diff_named_splits_added_removed_changed_unchanged():
    old = [Item("a", 1), Item("b", 2), Item("c", 3)]
    new = [Item("d", 4), Item("b", 2), Item("c", 30)]
    diff = diff_named(old, new)
    assert diff.added == [Item("d", 4)]
    assert diff.removed == [Item("a", 1)]
    assert diff.changed == [(Item("c", 3), Item("c", 30))]
    assert diff.unchanged == [Item("b", 2)]


def test_diff_named_of_equal_lists_is_all_unchanged():
    items = [Item("a", 1), Item("b", 2)]
    diff = diff_named(items, list(items))
    assert (diff.added, diff.removed, diff.changed) == ([], [], [])
    assert diff.unchanged == items


def test_component_result_as_dict_uses_the_outcome_words():
    result = ComponentResult("sensor", "attic", Outcome.NEEDS_RESTART, "bus changed")
    assert result.as_dict() == {
        "kind": "sensor",
        "name": "attic",
        "outcome": "needs restart",
        "detail": "bus changed",
    }
