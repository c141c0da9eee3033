"""Every safety rule of RelayLogic, with `now` passed in (no clock, no sleeps)."""

from __future__ import annotations

import pytest

from gateway.relays.config import OutputConfig
from gateway.relays.logic import Action, Command, Reason, Refusal, RelayLogic, Switch

T0 = 100.0


def out(name: str, **kw: object) -> OutputConfig:
    return OutputConfig(name=name, pin=kw.pop("pin", 0), **kw)


def logic(*outputs: OutputConfig, restored: dict[str, float] | None = None) -> RelayLogic:
    machine = RelayLogic(outputs, T0)
    machine.power_on(restored or {}, T0)
    return machine


def on(name: str, **kw: object) -> Command:
    return Command(name, Action.ON, **kw)  # type: ignore[arg-type]


def off(name: str) -> Command:
    return Command(name, Action.OFF)


def test_on_off_toggle() -> None:
    m = logic(out("pump"))
    assert m.command(on("pump"), T0) == Switch("pump", 1.0, Reason.COMMAND)
    assert m.command(Command("pump", Action.TOGGLE), T0 + 1) == Switch("pump", 0.0, Reason.COMMAND)
    assert m.command(Command("pump", Action.TOGGLE), T0 + 2) == Switch("pump", 1.0, Reason.COMMAND)
    assert m.level("pump") == 1.0 and m.next_deadline() is None


def test_unknown_output_is_refused() -> None:
    d = logic(out("pump")).command(on("pomp"), T0)
    assert isinstance(d, Refusal) and d.reason is Reason.UNKNOWN_OUTPUT


def test_timed_on_turns_off_at_its_deadline_only() -> None:
    m = logic(out("valve"))
    m.command(on("valve", duration=30), T0)
    assert m.next_deadline() == T0 + 30 and m.is_timed("valve")
    assert m.tick(T0 + 29.9) == []
    assert m.tick(T0 + 30) == [Switch("valve", 0.0, Reason.TIMER)]
    assert m.next_deadline() is None and not m.is_timed("valve")


def test_plain_on_cancels_a_timer_and_timed_on_replaces_it() -> None:
    m = logic(out("valve"))
    m.command(on("valve", duration=30), T0)
    m.command(on("valve", duration=10), T0 + 5)
    assert m.next_deadline() == T0 + 15
    m.command(on("valve"), T0 + 6)
    assert m.next_deadline() is None and m.tick(T0 + 100) == []


def test_off_cancels_the_timer() -> None:
    m = logic(out("valve"))
    m.command(on("valve", duration=30), T0)
    m.command(off("valve"), T0 + 1)
    assert m.next_deadline() is None


def test_max_on_time_turns_off_and_says_why() -> None:
    m = logic(out("heater", max_on_seconds=600))
    m.command(on("heater"), T0)
    assert m.tick(T0 + 599) == []
    assert m.tick(T0 + 600) == [Switch("heater", 0.0, Reason.MAX_ON_TIME)]


def test_repeating_on_does_not_extend_the_max_on_time() -> None:
    m = logic(out("heater", max_on_seconds=600))
    m.command(on("heater"), T0)
    m.command(on("heater"), T0 + 500)
    assert m.next_deadline() == T0 + 600


def test_timed_on_longer_than_max_on_is_refused() -> None:
    m = logic(out("heater", max_on_seconds=600))
    d = m.command(on("heater", duration=601), T0)
    assert isinstance(d, Refusal) and d.reason is Reason.INVALID and "max_on_seconds" in d.detail
    assert m.level("heater") == 0.0


def test_earlier_of_timer_and_max_on_wins() -> None:
    m = logic(out("heater", max_on_seconds=60))
    m.command(on("heater"), T0)
    m.command(on("heater", duration=50), T0 + 30)  # timer at +80, max-on at +60
    assert m.tick(T0 + 80) == [Switch("heater", 0.0, Reason.MAX_ON_TIME)]


def test_interlock_refuses_and_turning_off_is_always_allowed() -> None:
    m = logic(out("up", interlock=("down",)), out("down"))
    m.command(on("up"), T0)
    d = m.command(on("down"), T0 + 1)
    assert isinstance(d, Refusal) and d.reason is Reason.INTERLOCK and "up" in d.detail
    assert m.level("down") == 0.0
    assert m.command(off("up"), T0 + 2) == Switch("up", 0.0, Reason.COMMAND)
    assert m.command(on("down"), T0 + 3) == Switch("down", 1.0, Reason.COMMAND)


def test_interlock_binds_both_ways() -> None:
    m = logic(out("up", interlock=("down",)), out("down"))
    m.command(on("down"), T0)
    assert isinstance(m.command(Command("up", Action.TOGGLE), T0), Refusal)


def test_min_off_time_refuses_until_elapsed() -> None:
    m = logic(out("compressor", min_off_seconds=180), out("lamp"))
    m.command(on("compressor"), T0 + 200)
    m.command(off("compressor"), T0 + 300)
    d = m.command(on("compressor"), T0 + 479)
    assert isinstance(d, Refusal) and d.reason is Reason.MIN_OFF_TIME and "1.0 s left" in d.detail
    assert m.command(on("compressor"), T0 + 480) == Switch("compressor", 1.0, Reason.COMMAND)


def test_min_off_time_counts_from_start_up() -> None:
    m = logic(out("compressor", min_off_seconds=180))
    assert isinstance(m.command(on("compressor"), T0 + 10), Refusal)


def test_power_on_states() -> None:
    m = RelayLogic(
        [
            out("a"),
            out("b", power_on="on"),
            out("c", power_on="restore"),
            out("d", power_on="restore"),
        ],
        T0,
    )
    got = m.power_on({"c": 1.0}, T0)
    assert got == [
        Switch("a", 0.0, Reason.POWER_ON),
        Switch("b", 1.0, Reason.POWER_ON),
        Switch("c", 1.0, Reason.POWER_ON),
        Switch("d", 0.0, Reason.POWER_ON),
    ]


def test_power_on_with_min_off_is_deferred() -> None:
    m = RelayLogic([out("compressor", power_on="on", min_off_seconds=60)], T0)
    assert m.power_on({}, T0) == [Switch("compressor", 0.0, Reason.POWER_ON)]
    assert m.next_deadline() == T0 + 60
    assert m.tick(T0 + 60) == [Switch("compressor", 1.0, Reason.POWER_ON)]


def test_restore_never_breaks_an_interlock() -> None:
    m = RelayLogic(
        [out("up", power_on="restore", interlock=("down",)), out("down", power_on="restore")], T0
    )
    got = m.power_on({"up": 1.0, "down": 1.0}, T0)
    assert got[0] == Switch("up", 1.0, Reason.POWER_ON)
    assert isinstance(got[1], Refusal) and got[1].reason is Reason.INTERLOCK
    assert got[2] == Switch("down", 0.0, Reason.POWER_ON)


def test_late_power_on_of_one_output_follows_the_same_rules() -> None:
    """An output whose device opens after start-up gets its power-on rule then (controller retry)."""
    m = RelayLogic(
        [
            out("up", power_on="restore", interlock=("down",)),
            out("down"),
            out("fan", power_on="on", min_off_seconds=30),
        ],
        T0,
    )
    m.power_on({"up": 1.0}, T0)
    m.observe("up", 0.0, T0)  # its device did not open: it is off
    m.observe("fan", 0.0, T0)
    assert m.command(on("down"), T0 + 5) == Switch("down", 1.0, Reason.COMMAND)
    late = m.power_on_one("up", {"up": 1.0}, T0 + 10)
    assert isinstance(late[0], Refusal) and late[0].reason is Reason.INTERLOCK
    assert late[1:] == [Switch("up", 0.0, Reason.POWER_ON)]
    m.command(off("down"), T0 + 11)
    assert m.power_on_one("up", {"up": 1.0}, T0 + 12) == [Switch("up", 1.0, Reason.POWER_ON)]
    assert m.power_on_one("fan", {}, T0 + 12) == [Switch("fan", 0.0, Reason.POWER_ON)]
    assert m.tick(T0 + 42) == [Switch("fan", 1.0, Reason.POWER_ON)]  # min_off from its late start


def test_power_on_starts_the_max_on_clock() -> None:
    m = RelayLogic([out("heater", power_on="on", max_on_seconds=60)], T0)
    m.power_on({}, T0)
    assert m.tick(T0 + 60) == [Switch("heater", 0.0, Reason.MAX_ON_TIME)]


def test_readback_wins_over_the_decision() -> None:
    m = logic(out("heater", max_on_seconds=60))
    m.command(on("heater"), T0)
    m.observe("heater", 0.0, T0)  # the write did not take
    assert m.level("heater") == 0.0 and m.next_deadline() is None


def test_stop_turns_offs_first_then_ons_and_keeps_keep() -> None:
    m = logic(
        out("up", interlock=("down",)), out("down", on_stop="on"), out("lamp", on_stop="keep")
    )
    m.command(on("up"), T0)
    m.command(on("lamp"), T0)
    assert m.stop(T0 + 1) == [Switch("up", 0.0, Reason.STOP), Switch("down", 1.0, Reason.STOP)]
    assert m.level("lamp") == 1.0 and m.next_deadline() is None


def test_pwm_levels() -> None:
    m = logic(out("dimmer", kind="pwm"))
    assert m.command(on("dimmer", level=0.4), T0) == Switch("dimmer", 0.4, Reason.COMMAND)
    m.command(off("dimmer"), T0)
    assert m.command(on("dimmer"), T0) == Switch("dimmer", 0.4, Reason.COMMAND)  # the last duty


@pytest.mark.parametrize(
    "command", [on("pump", level=0.5), on("pump", duration=0), on("pump", duration=-1)]
)
def test_invalid_on_commands(command: Command) -> None:
    m = logic(out("pump"))
    d = m.command(command, T0)
    assert isinstance(d, Refusal) and d.reason is Reason.INVALID and m.level("pump") == 0.0


# -- device loss: lose() while the device does not answer, restore() when it answers again ---------


def test_a_device_that_kept_its_state_gets_the_held_state_back() -> None:
    m = logic(out("pump", max_on_seconds=600), out("lamp"))
    m.command(on("pump"), T0)
    m.lose("pump")
    m.lose("lamp")
    assert m.restore("pump", T0 + 100, reset=False) == [Switch("pump", 1.0, Reason.RESTORED)]
    assert m.restore("lamp", T0 + 100, reset=False) == [Switch("lamp", 0.0, Reason.RESTORED)]
    assert m.next_deadline() == T0 + 600  # the max on-time still counts from the first ON


def test_max_on_time_that_ran_out_while_lost_ends_off() -> None:
    m = logic(out("heater", max_on_seconds=600))
    m.command(on("heater"), T0)
    m.lose("heater")
    assert m.tick(T0 + 600) == [Switch("heater", 0.0, Reason.MAX_ON_TIME)]  # held until it is back
    for reset in (False, True):
        assert m.restore("heater", T0 + 700, reset=reset) == [
            Switch("heater", 0.0, Reason.RESTORED)
        ]


def test_after_a_reset_an_output_without_min_off_is_on_again_at_once_on_its_first_max_on_clock() -> (
    None
):
    m = logic(out("heater", max_on_seconds=600))
    m.command(on("heater"), T0)
    m.lose("heater")
    assert m.restore("heater", T0 + 100, reset=True) == [Switch("heater", 1.0, Reason.RESTORED)]
    assert m.tick(T0 + 600) == [Switch("heater", 0.0, Reason.MAX_ON_TIME)]


def test_after_a_reset_min_off_counts_from_the_restore() -> None:
    """The compressor may have dropped out just before the chip answered again: no short cycle."""
    m = logic(out("compressor", min_off_seconds=180, max_on_seconds=3600))
    m.command(on("compressor"), T0 + 200)
    m.lose("compressor")
    assert m.restore("compressor", T0 + 300, reset=True) == [
        Switch("compressor", 0.0, Reason.RESTORED)
    ]
    assert m.level("compressor") == 0.0 and m.next_deadline() == T0 + 480
    assert isinstance(m.command(on("compressor"), T0 + 479), Refusal)
    assert m.tick(T0 + 480) == [Switch("compressor", 1.0, Reason.RESTORED)]
    assert m.next_deadline() == T0 + 480 + 3600  # a new on: a new max on-time


def test_after_a_reset_a_timed_on_resumes_only_for_the_time_it_had_left() -> None:
    m = logic(out("pump", min_off_seconds=60), out("fan", min_off_seconds=60))
    m.command(on("pump", duration=300), T0 + 100)
    m.command(on("fan", duration=100), T0 + 100)
    m.lose("pump")
    m.lose("fan")
    assert m.restore("pump", T0 + 150, reset=True) == [Switch("pump", 0.0, Reason.RESTORED)]
    assert m.restore("fan", T0 + 150, reset=True) == [Switch("fan", 0.0, Reason.RESTORED)]
    assert m.tick(T0 + 210) == [Switch("pump", 1.0, Reason.RESTORED)]  # fan's time is up by then
    assert m.is_timed("pump") and m.tick(T0 + 399) == []
    assert m.tick(T0 + 400) == [Switch("pump", 0.0, Reason.TIMER)]
    assert m.level("fan") == 0.0 and m.next_deadline() is None


def test_a_lost_output_held_on_still_blocks_its_interlock_partner() -> None:
    m = logic(out("up", interlock=("down",)), out("down"))
    m.command(on("up"), T0)
    m.lose("up")  # its physical state is unknown: it may be on
    assert isinstance(m.command(on("down"), T0 + 1), Refusal)


def test_after_a_reset_an_interlock_partner_on_keeps_the_output_off() -> None:
    m = logic(out("up", interlock=("down",)), out("down"))
    m.command(on("up"), T0)
    m.lose("up")
    m.observe("down", 1.0, T0 + 1)  # read back on (switched by hand, say) while up was lost
    got = m.restore("up", T0 + 2, reset=True)
    assert isinstance(got[0], Refusal) and got[0].reason is Reason.INTERLOCK
    assert got[1:] == [Switch("up", 0.0, Reason.RESTORED)] and m.level("up") == 0.0


def test_a_deferred_power_on_waits_while_the_device_is_lost() -> None:
    m = RelayLogic([out("fan", power_on="on", min_off_seconds=30)], T0)
    m.power_on({}, T0)
    m.lose("fan")
    assert m.next_deadline() is None and m.tick(T0 + 100) == []
    assert m.restore("fan", T0 + 100, reset=True) == [Switch("fan", 0.0, Reason.RESTORED)]
    assert m.tick(T0 + 100) == [Switch("fan", 1.0, Reason.POWER_ON)]
