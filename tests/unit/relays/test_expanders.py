"""Outputs on GPIO (gpiozero MockFactory) and on I2C port expanders (datasheet-like fake chips)."""

from __future__ import annotations

import errno

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.base import DeviceNotFound
from drivers.gpio.outputs import GpioOutput, OutputValueError, PwmOutput
from drivers.i2c.mcp23017 import MCP23017
from drivers.i2c.pcf8574 import PCF8574
from tests.fakes.chips.mcp23017 import FakeMCP23017
from tests.fakes.chips.pcf8574 import FakePCF8574
from tests.fakes.i2c import FakeSMBus


@pytest.fixture
def bus() -> FakeSMBus:
    return FakeSMBus()


# -- GPIO --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("active_low", "level_when_on"), [(False, True), (True, False)])
def test_gpio_relay_drives_the_pin_per_polarity(active_low: bool, level_when_on: bool) -> None:
    factory = MockFactory()
    out = GpioOutput(17, active_low=active_low, pin_factory=factory)
    pin = factory.pin(17)
    assert pin.state == (not level_when_on) and out.read() == 0.0
    out.set(1)
    assert pin.state == level_when_on and out.read() == 1.0
    out.set(0)
    assert pin.state == (not level_when_on) and out.read() == 0.0
    out.close()


def test_gpio_initial_value_is_driven_at_construction() -> None:
    factory = MockFactory()
    out = GpioOutput(5, active_low=True, initial=1, pin_factory=factory)
    assert factory.pin(5).state is False and out.read() == 1.0


def test_gpio_relay_refuses_values_other_than_0_and_1() -> None:
    out = GpioOutput(17, pin_factory=MockFactory())
    for bad in (0.5, 2, -1, "1"):
        with pytest.raises(OutputValueError):
            out.set(bad)  # type: ignore[arg-type]
    assert out.read() == 0.0


def test_pwm_output_sets_and_reads_back_the_duty() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    out = PwmOutput(18, frequency=200, pin_factory=factory)
    out.set(0.4)
    assert factory.pin(18).state == pytest.approx(0.4) and out.read() == pytest.approx(0.4)
    assert factory.pin(18).frequency == 200
    with pytest.raises(OutputValueError):
        out.set(1.5)


def test_active_low_pwm_inverts_the_duty_on_the_pin() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    out = PwmOutput(18, active_low=True, pin_factory=factory)
    out.set(0.25)
    assert factory.pin(18).state == pytest.approx(0.75) and out.read() == pytest.approx(0.25)


# -- PCF8574 -----------------------------------------------------------------------------------


def test_pcf8574_missing_chip_is_device_not_found(bus: FakeSMBus) -> None:
    with pytest.raises(DeviceNotFound) as info:
        PCF8574(bus, 0x21).open()
    assert info.value.errno == errno.EREMOTEIO


def test_pcf8574_rejects_addresses_it_cannot_have(bus: FakeSMBus) -> None:
    with pytest.raises(ValueError, match="0x30"):
        PCF8574(bus, 0x30)
    assert PCF8574(bus, 0x38).address == 0x38  # the PCF8574A range


def test_pcf8574_active_low_relay_sinks_the_pin_when_on(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakePCF8574())
    chip = PCF8574(bus, 0x20)
    chip.open()
    out = chip.output(3, active_low=True)
    assert fake.latch == 0xFF and out.read() == 0.0
    out.set(1)
    assert fake.latch == 0xFF & ~(1 << 3) and out.read() == 1.0


def test_pcf8574_pins_share_one_latch_and_leave_others_high(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakePCF8574())
    chip = PCF8574(bus, 0x20)
    a, b = chip.output(0), chip.output(7, initial=1)
    a.set(1)
    b.set(0)
    assert fake.latch == 0b0111_1111  # pin 7 low, 1..6 still weak-high inputs, pin 0 high
    assert a.read() == 1.0 and b.read() == 0.0


def test_pcf8574_readback_reports_the_pin_not_the_latch(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakePCF8574())
    out = PCF8574(bus, 0x20).output(2, initial=1)
    fake.external_low = 1 << 2  # a short (or an overload) holds the weak high down
    assert out.read() == 0.0


def test_pcf8574_pin_cannot_be_claimed_twice_or_out_of_range(bus: FakeSMBus) -> None:
    bus.attach(0x20, FakePCF8574())
    chip = PCF8574(bus, 0x20)
    out = chip.output(1)
    with pytest.raises(OutputValueError, match="in use"):
        chip.output(1)
    with pytest.raises(OutputValueError, match=r"0\.\.7"):
        chip.output(8)
    out.close()
    chip.output(1)


def test_pcf8574_failed_write_keeps_the_shadow_latch(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakePCF8574())
    chip = PCF8574(bus, 0x20)
    a, b = chip.output(0), chip.output(1)
    bus.detach(0x20)
    with pytest.raises(OSError):
        a.set(1)
    bus.attach(0x20, fake)
    b.set(1)
    assert fake.level(0) is False and fake.level(1) is True


# -- MCP23017 ----------------------------------------------------------------------------------


def test_mcp23017_output_sets_latch_then_direction(bus: FakeSMBus) -> None:
    fake = bus.attach(0x27, FakeMCP23017())
    chip = MCP23017(bus, 0x27)
    chip.open()
    out = chip.output(9, active_low=True)  # GPB1
    assert fake.regs[0x01] == 0xFF & ~(1 << 1)  # IODIRB: pin is an output
    assert fake.regs[0x15] == 1 << 1  # OLATB high = relay off
    assert fake.regs[0x00] == 0xFF  # port A untouched
    out.set(1)
    assert fake.level(9) is False and out.read() == 1.0


def test_mcp23017_port_a_and_b_pins_are_independent(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakeMCP23017())
    chip = MCP23017(bus, 0x20)
    pins = {p: chip.output(p) for p in (0, 7, 8, 15)}
    pins[7].set(1)
    pins[8].set(1)
    assert fake.regs[0x14] == 0x80 and fake.regs[0x15] == 0x01
    assert [pins[p].read() for p in (0, 7, 8, 15)] == [0.0, 1.0, 1.0, 0.0]


def test_mcp23017_readback_comes_from_gpio_not_olat(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakeMCP23017())
    out = MCP23017(bus, 0x20).output(4, initial=1)
    fake.regs[0x00] |= 1 << 4  # something turned the pin back into an input
    assert out.read() == 0.0  # the pin floats at the external level, and we report that


def test_mcp23017_missing_chip_and_bad_pins(bus: FakeSMBus) -> None:
    with pytest.raises(DeviceNotFound):
        MCP23017(bus, 0x20).open()
    bus.attach(0x20, FakeMCP23017())
    chip = MCP23017(bus, 0x20)
    with pytest.raises(OutputValueError):
        chip.output(16)
    chip.output(3)
    with pytest.raises(OutputValueError, match="in use"):
        chip.output(3)
    with pytest.raises(ValueError):
        MCP23017(bus, 0x38)


# -- a chip that lost power: check() sees it, reinit() sets it up again ----------------------------


def test_pcf8574_check_sees_a_reset_latch_and_reinit_restores_it(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakePCF8574())
    chip = PCF8574(bus, 0x20)
    on, off = chip.output(0, active_low=True, initial=1), chip.output(1, active_low=True)
    assert chip.check() is None
    fake.brown_out()  # the latch is all ones again: the active-low relay on pin 0 dropped out
    assert on.read() == 0.0
    assert chip.check() == "pins read 0xFF, the latch written was 0xFE"
    chip.reinit({1: False})  # pin 1's relay on as well, in the same write
    assert fake.latch == 0xFC and on.read() == 1.0 and off.read() == 1.0
    assert chip.check() is None


def test_pcf8574_check_ignores_a_pin_held_low_from_outside(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakePCF8574())
    chip = PCF8574(bus, 0x20)
    chip.output(2, initial=1)
    fake.external_low = 1 << 2  # an overload, not a reset: the latch is still ours
    assert chip.check() is None


def test_pcf8574_check_and_reinit_raise_while_the_chip_is_unpowered(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakePCF8574())
    chip = PCF8574(bus, 0x20)
    chip.output(0)
    fake.power_off()
    for call in (chip.check, lambda: chip.reinit({}), chip.open):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EREMOTEIO


def test_mcp23017_check_sees_inputs_after_a_reset_and_reinit_sets_latch_before_direction(
    bus: FakeSMBus,
) -> None:
    fake = bus.attach(0x20, FakeMCP23017())
    chip = MCP23017(bus, 0x20)
    a, b = chip.output(3, initial=1), chip.output(12)
    assert chip.check() is None
    fake.brown_out()  # IODIR 0xFF, OLAT 0: every pin an input, floating at the external level
    assert a.read() == 0.0
    assert chip.check() == ("IODIR 0xFFFF, OLAT 0x0000; expected outputs 0x1008 latched at 0x0008")
    writes: list[bytes] = []
    original = fake.write

    def recording(data: bytes) -> None:
        writes.append(data)
        original(data)

    fake.write = recording  # type: ignore[method-assign]  # a spy on the fake's own method
    chip.reinit({12: True})
    latched = [w for w in writes if len(w) == 2]
    assert latched == [
        bytes([0x14, 0x08]),
        bytes([0x00, 0xF7]),
        bytes([0x15, 0x10]),
        bytes([0x01, 0xEF]),
    ]  # per port: OLAT first, then IODIR
    assert fake.regs[0x00] == 0xF7 and fake.regs[0x01] == 0xEF  # unclaimed pins stay inputs
    assert a.read() == 1.0 and b.read() == 1.0 and chip.check() is None


def test_mcp23017_check_sees_a_latch_changed_behind_its_back(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakeMCP23017())
    chip = MCP23017(bus, 0x20)
    chip.output(0)
    fake.regs[0x14] |= 0x80  # an unclaimed pin: not ours to judge
    assert chip.check() is None
    fake.regs[0x14] |= 0x01
    assert chip.check() is not None and "OLAT 0x0081" in chip.check()  # type: ignore[operator]


def test_mcp23017_failed_write_leaves_the_shadow_as_the_chip_has_it(bus: FakeSMBus) -> None:
    fake = bus.attach(0x20, FakeMCP23017())
    chip = MCP23017(bus, 0x20)
    out = chip.output(5)
    fake.power_off()
    with pytest.raises(OSError):
        out.set(1)
    fake.powered = True  # back without a reset: it kept its registers, and our shadow matches them
    assert chip.check() is None and out.read() == 0.0
