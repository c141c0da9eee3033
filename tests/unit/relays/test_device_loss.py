"""Expanders lost while running: a periodic read-back (and any I/O error) finds a chip that stopped
answering or reset behind our back; its relays go unavailable, it is retried with backoff, and when
it answers it is set up again with the state the safety logic holds. Datasheet-like fake chips that
can lose power, gpiozero's MockFactory, the in-memory bus and a fake clock; no sleeps."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from gateway.relays.config import OutputConfig
from gateway.relays.controller import RelayService
from gateway.relays.hardware import RelaySetupError
from tests.fakes.chips.mcp23017 import FakeMCP23017
from tests.fakes.chips.pcf8574 import FakePCF8574
from tests.fakes.i2c import FakeSMBus
from tests.fakes.local_bus import MemoryBus
from tests.unit.relays.helpers import FakeClock, Watcher

BASE = "site"
IODIRA, IODIRB, OLATA, OLATB = 0x00, 0x01, 0x14, 0x15


class Rig:
    """One RelayService on one fake I2C bus (plus MockFactory GPIO), and what it publishes."""

    def __init__(self, tmp_path: Path, *outputs: OutputConfig, **kw: Any) -> None:
        self.mqtt, self.clock, self.i2c = MemoryBus(), FakeClock(1000), FakeSMBus()
        self.pins = MockFactory(pin_class=MockPWMPin)
        self.service = RelayService(
            outputs,
            self.mqtt.client("relays"),
            BASE,
            tmp_path,
            pin_factory=self.pins,
            open_i2c=lambda n: self.i2c,
            clock=self.clock,
            **kw,
        )

    async def events(self, name: str) -> Watcher:
        return await Watcher.on(self.mqtt, f"{BASE}/relay/{name}/event")

    def available(self, name: str) -> bytes:
        return self.mqtt.retained[f"{BASE}/relay/{name}/availability"].payload

    def state(self, name: str) -> bytes:
        return self.mqtt.retained[f"{BASE}/relay/{name}"].payload

    async def command(self, name: str, payload: str) -> None:
        await self.mqtt.client("lan").publish(f"{BASE}/relay/{name}/set", payload, qos=1)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.service.settled()


def bodies(watcher: Watcher) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in watcher.drain()]


async def test_an_mcp23017_that_loses_power_is_offline_retried_and_set_up_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.relays")
    rig = Rig(
        tmp_path,
        OutputConfig(name="heater", kind="mcp23017", address=0x20, pin=0, max_on_seconds=60),
        OutputConfig(name="pump", kind="mcp23017", address=0x20, pin=9),
        OutputConfig(name="lamp", pin=17),
    )
    chip = rig.i2c.attach(0x20, FakeMCP23017())
    await rig.service.start()
    await rig.command("heater", "ON")
    await rig.command("pump", "ON")
    heater, pump = await rig.events("heater"), await rig.events("pump")

    chip.power_off()  # the hat lost its supply: the chip stops answering, its relays drop out
    await rig.advance(5)  # the periodic read-back finds it
    assert rig.available("heater") == rig.available("pump") == b"offline"
    [lost] = bodies(heater)
    assert lost["event"] == "unavailable" and lost["reason"] == "device_lost"
    assert "mcp23017 0x20 pin 0 on /dev/i2c-1 does not answer" in lost["detail"]
    await rig.command("pump", "OFF")
    assert bodies(pump)[-1]["reason"] == "unavailable"  # commands are refused while it is lost
    await rig.command("lamp", "ON")  # GPIO runs on
    assert rig.pins.pin(17).state == 1

    tried = rig.i2c.transactions
    for delay in (5, 10, 20, 40, 60, 60):  # retried after 5 s, doubling up to 60 s
        await rig.advance(delay - 0.5)
        assert rig.i2c.transactions == tried, "tried too early"
        await rig.advance(0.5)
        assert rig.i2c.transactions == tried + 1, "one probe per try"
        tried = rig.i2c.transactions
    assert rig.available("heater") == b"offline"

    chip.power_on()  # back with its power-on registers: every pin an input, OLAT 0
    await rig.advance(60)
    assert rig.available("heater") == rig.available("pump") == b"online"
    # The heater's maximum on-time ran out while the chip was away: it ends off. The pump is on.
    assert rig.state("heater") == b"OFF" and rig.state("pump") == b"ON"
    assert chip.regs[IODIRA] & 0x01 == 0 and chip.regs[IODIRB] & 0x02 == 0  # outputs again
    assert not chip.level(0) and chip.level(9)
    [restored] = bodies(heater)
    assert restored == {
        "event": "switched",
        "state": "OFF",
        "reason": "restored",
        "detail": restored["detail"],
    }
    assert restored["detail"].startswith(
        "restored after device loss: it answered again after 255 s and had reset (IODIR 0xFFFF"
    )
    assert bodies(pump)[-1]["state"] == "ON"
    warned = [
        r for r in caplog.records if r.levelno == logging.WARNING and "had reset" in r.getMessage()
    ]
    assert {vars(r)["RELAY"] for r in warned} == {"heater", "pump"}
    await rig.command("heater", "ON")  # and it obeys commands again
    assert chip.level(0) and rig.state("heater") == b"ON"
    await rig.service.stop()


async def test_a_brown_out_the_bus_never_saw_is_found_by_the_read_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(
        tmp_path, OutputConfig(name="valve", kind="mcp23017", address=0x21, pin=3, check_interval=2)
    )
    chip = rig.i2c.attach(0x21, FakeMCP23017())
    await rig.service.start()
    await rig.command("valve", "ON")
    events = await rig.events("valve")
    online = len(rig.mqtt.log)
    chip.brown_out()  # reset, yet answering: IODIR 0xFF, the valve's pin floats
    assert not chip.level(3)
    await rig.advance(1.9)
    assert not chip.level(3)
    await rig.advance(0.1)
    assert chip.level(3) and chip.regs[IODIRA] == 0xF7 and chip.regs[OLATA] == 0x08
    [restored] = bodies(events)
    assert restored["state"] == "ON" and restored["reason"] == "restored"
    assert "the chip had reset (IODIR 0xFFFF, OLAT 0x0000" in restored["detail"]
    assert [
        r.levelno for r in caplog.records if "does not hold what was written" in r.getMessage()
    ] == [logging.WARNING]
    availability = [m.payload for m in rig.mqtt.log[online:] if m.topic.endswith("/availability")]
    assert availability == [b"online"]  # it answered throughout: never offline
    await rig.service.stop()


async def test_a_pcf8574_that_came_back_all_high_gets_its_latch_again(tmp_path: Path) -> None:
    rig = Rig(
        tmp_path,
        OutputConfig(name="a", kind="pcf8574", address=0x20, pin=0, active_low=True),
        OutputConfig(name="b", kind="pcf8574", address=0x20, pin=1, active_low=True),
    )
    chip = rig.i2c.attach(0x20, FakePCF8574())
    await rig.service.start()
    await rig.command("a", "ON")
    assert chip.latch == 0xFE
    chip.power_off()
    await rig.advance(5)
    assert rig.available("a") == b"offline"
    chip.power_on()  # the power-on latch: all high, so the active-low relay on pin 0 is off
    assert chip.level(0)
    await rig.advance(5)
    assert chip.latch == 0xFE and rig.state("a") == b"ON" and rig.state("b") == b"OFF"
    assert rig.available("a") == rig.available("b") == b"online"
    await rig.service.stop()


async def running_compressor(tmp_path: Path):
    """An MCP23017 compressor output with a 180 s min-off time, switched ON past it; (rig, chip,
    its event watcher)."""
    rig = Rig(
        tmp_path,
        OutputConfig(name="compressor", kind="mcp23017", address=0x20, pin=4, min_off_seconds=180),
    )
    chip = rig.i2c.attach(0x20, FakeMCP23017())
    await rig.service.start()
    await rig.advance(180)
    await rig.command("compressor", "ON")
    events = await rig.events("compressor")
    return rig, chip, events


async def test_after_a_reset_min_off_time_is_kept_before_the_compressor_runs_again(
    tmp_path: Path,
) -> None:
    rig, chip, events = await running_compressor(tmp_path)
    chip.brown_out()  # it dropped out: starting it again at once would short-cycle it
    await rig.advance(5)
    assert rig.state("compressor") == b"OFF" and not chip.level(4)
    assert chip.regs[IODIRA] & 0x10 == 0  # set up again, driven off
    assert bodies(events) == [
        {
            "event": "switched",
            "state": "OFF",
            "reason": "restored",
            "detail": "restored after device loss: the chip had reset (IODIR "
            "0xFFFF, OLAT 0x0000; expected outputs 0x0010 latched at "
            "0x0010)",
        }
    ]
    await rig.advance(179)
    assert not chip.level(4)
    await rig.advance(1)
    assert chip.level(4) and rig.state("compressor") == b"ON"
    assert bodies(events) == [{"event": "switched", "state": "ON", "reason": "restored"}]
    await rig.service.stop()


async def test_a_chip_that_kept_its_outputs_resumes_without_a_min_off_pause(tmp_path: Path) -> None:
    rig, chip, events = await running_compressor(tmp_path)
    chip.powered = False  # SDA came loose: silent on the bus, but powered and still driving
    await rig.advance(5)
    assert rig.available("compressor") == b"offline"
    chip.powered = True
    await rig.advance(5)
    assert rig.available("compressor") == b"online" and rig.state("compressor") == b"ON"
    assert chip.level(4)
    restored = bodies(events)[-1]
    assert restored["state"] == "ON" and "had kept its outputs" in restored["detail"]
    await rig.service.stop()


async def test_a_lost_relay_held_on_keeps_its_interlock_partner_off(tmp_path: Path) -> None:
    rig = Rig(
        tmp_path,
        OutputConfig(name="up", kind="pcf8574", address=0x20, pin=0, interlock=("down",)),
        OutputConfig(name="down", pin=22),
    )
    chip = rig.i2c.attach(0x20, FakePCF8574())
    await rig.service.start()
    await rig.command("up", "ON")
    chip.power_off()
    await rig.advance(5)
    down = await rig.events("down")
    await rig.command("down", "ON")  # "up" may still be running: refused
    assert bodies(down)[-1]["reason"] == "interlock" and rig.pins.pin(22).state == 0
    await rig.service.stop()


async def test_an_io_error_on_a_command_checks_the_chip_at_once(tmp_path: Path) -> None:
    rig = Rig(
        tmp_path, OutputConfig(name="gate", kind="mcp23017", address=0x20, pin=0, check_interval=0)
    )  # no periodic read-back
    chip = rig.i2c.attach(0x20, FakeMCP23017())
    await rig.service.start()
    events = await rig.events("gate")
    idle = rig.i2c.transactions
    await rig.advance(3600)
    assert rig.i2c.transactions == idle  # check_interval = 0: the bus is left alone
    chip.power_off()
    await rig.command("gate", "ON")
    await rig.service.settled()  # no time passes: the failed write made the chip suspect
    assert rig.available("gate") == b"offline"
    assert [b["event"] for b in bodies(events)] == ["unavailable"]
    chip.power_on()
    await rig.advance(5)
    # The command failed, so it did not become the held state: the gate comes back off.
    assert rig.state("gate") == b"OFF" and not chip.level(0) and chip.regs[IODIRA] & 0x01 == 0
    await rig.service.stop()


async def test_gpio_outputs_are_not_read_back_periodically(tmp_path: Path) -> None:
    rig = Rig(tmp_path, OutputConfig(name="lamp", pin=17))
    await rig.service.start()
    assert rig.service._next_deadline() is None  # nothing to do until a command
    await rig.service.stop()
    with pytest.raises(ValueError, match="'check_interval' is only for I2C expanders"):
        OutputConfig(name="lamp", pin=17, check_interval=5)
    with pytest.raises(ValueError, match=r"check_interval is 0 \(off\) or at least 0\.5 s"):
        OutputConfig(name="v", kind="pcf8574", address=0x20, pin=0, check_interval=0.1)


# -- a missing library or a bad setting is not absent hardware -----------------------------------


async def test_a_missing_smbus2_stops_start_up_naming_the_relay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "smbus2", None)  # `import smbus2` raises ImportError
    mqtt = MemoryBus()
    service = RelayService(
        [OutputConfig(name="valve", kind="pcf8574", address=0x20, pin=0)],
        mqtt.client("relays"),
        BASE,
        tmp_path,
        clock=FakeClock(),
    )
    with pytest.raises(
        RelaySetupError,
        match=r"relay 'valve': pcf8574 0x20 pin 0 on /dev/i2c-1: "
        r"import of smbus2 halted",
    ):
        await service.start()


async def test_a_bad_address_stops_start_up_even_when_the_bus_is_absent(tmp_path: Path) -> None:
    def absent(number: int) -> FakeSMBus:
        raise FileNotFoundError(2, "No such file or directory", f"/dev/i2c-{number}")

    service = RelayService(
        [OutputConfig(name="valve", kind="pcf8574", address=0x30, pin=0)],
        MemoryBus().client("relays"),
        BASE,
        tmp_path,
        open_i2c=absent,
        clock=FakeClock(),
    )
    with pytest.raises(RelaySetupError, match=r"relay 'valve': .*PCF8574: address 0x30 is not one"):
        await service.start()


async def test_absent_hardware_is_still_retried_not_a_setup_error(tmp_path: Path) -> None:
    rig = Rig(tmp_path, OutputConfig(name="valve", kind="pcf8574", address=0x20, pin=0))
    await rig.service.start()  # nothing at 0x20: DeviceNotFound, an OSError
    assert rig.available("valve") == b"offline"
    rig.i2c.attach(0x20, FakePCF8574())
    await rig.advance(5)
    assert rig.available("valve") == b"online"
    await rig.service.stop()
