"""The rule state machine with a fake clock: thresholds, hysteresis, minimum duration, equality,
unavailability."""

from __future__ import annotations

from gateway.automation.rules import Condition, RuleMachine, State


def states(transitions):
    return [t.state.value for t in transitions]


def test_above_with_hysteresis_and_minimum_duration():
    rule = RuleMachine(Condition(above=28, until_below=26), hold_for=60)
    assert rule.observe(27.0, 0) == []  # starts inactive: nothing to do
    assert rule.observe(28.5, 10) == [] and rule.next_deadline() == 70
    assert rule.observe(29.0, 40) == []  # still pending since 10
    assert states(rule.tick(70)) == ["active"]
    assert rule.observe(27.0, 80) == []  # between 26 and 28: stays active
    assert rule.observe(25.9, 90) == [] and rule.next_deadline() == 150
    assert rule.observe(26.5, 100) == [] and rule.next_deadline() is None  # contradicted: cancelled
    assert rule.observe(25.0, 110) == []
    assert states(rule.tick(169)) == [] and states(rule.tick(170)) == ["inactive"]


def test_a_spike_shorter_than_the_duration_does_nothing():
    rule = RuleMachine(Condition(above=28), hold_for=60)
    rule.observe(20, 0)
    rule.observe(30, 10)
    rule.observe(20, 30)
    assert rule.tick(100) == [] and rule.state is State.INACTIVE


def test_below_rule_heater():
    rule = RuleMachine(Condition(below=18, until_above=20))
    assert states(rule.observe(17.5, 0)) == ["active"]  # first value: active at once
    assert rule.observe(19.0, 10) == []
    assert states(rule.observe(20.5, 20)) == ["inactive"]


def test_equals_for_gpio_and_payloads():
    rule = RuleMachine(Condition(equals=False))  # door contact open
    assert states(rule.observe(False, 0)) == ["active"]
    assert states(rule.observe(True, 1)) == ["inactive"]
    text = RuleMachine(Condition(equals="ARMED"))
    assert states(text.observe("ARMED", 0)) == ["active"] and text.observe("junk", 1) != []


def test_non_numbers_are_ignored_by_thresholds():
    rule = RuleMachine(Condition(above=5))
    assert rule.observe("n/a", 0) == [] and rule.observe(None, 1) == []
    assert states(rule.observe("6.5", 2)) == ["active"]


def test_unavailable_policies():
    hold = RuleMachine(Condition(above=1), on_unavailable="hold")
    hold.observe(2, 0)
    assert hold.unavailable(1) == [] and hold.state is State.ACTIVE
    off = RuleMachine(Condition(above=1), on_unavailable="inactive")
    off.observe(2, 0)
    (t,) = off.unavailable(1)
    assert (t.state, t.cause) == (State.INACTIVE, "unavailable")
    assert off.unavailable(2) == []  # already inactive
    on = RuleMachine(Condition(above=1), on_unavailable="active")
    assert states(on.unavailable(0)) == ["active"]


def test_unavailable_cancels_a_pending_change():
    rule = RuleMachine(Condition(above=1), hold_for=30)
    rule.observe(2, 0)
    rule.unavailable(10)
    assert rule.tick(40) == [] and rule.next_deadline() is None
