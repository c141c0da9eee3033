"""The devices behind the relay outputs: built from the config, expander chips shared by their
outputs, and the line between absent hardware and a config or library problem.

How it works:
* `RelayHardware.open(cfg, level)` builds one output, driven at `level` from the first moment. An
  OSError — a missing /dev/i2c-N, an expander that does not answer (DeviceNotFound) — is absent
  hardware: the controller makes the output unavailable and tries again later. Anything else — a
  missing library (smbus2, gpiozero, a GPIO pin factory), an address the chip cannot have, a pin
  gpiozero refuses — is a `RelaySetupError` naming the relay: it stops start-up like a bad key.
  An expander's address is checked before its bus is opened, so an absent bus cannot hide it.
* Expanders are shared: one chip object per (kind, bus, address), made and probed when its first
  output opens; a chip that does not answer is not kept, so the next open probes it again.
  `check`, `probe` and `reinit` serve the controller's watch over them (gateway.relays.watch).
* `setup_problems(configs)` is check-config's part: it makes what can be made without touching
  hardware — the expander chip objects on a closed smbus2 bus (their address, smbus2 installed) —
  and imports gpiozero for GPIO outputs, whose pins are claimed only when they open.
Every RelayHardware method blocks: the controller calls them in its worker thread.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from drivers.bus.i2c import check_address
from drivers.gpio.outputs import ExpanderOutput, GpioOutput, Output, PwmOutput
from drivers.i2c import mcp23017, pcf8574
from gateway.errors import GatewayError
from gateway.relays.config import EXPANDERS, OutputConfig

ChipKey = tuple[str, int, int]  # (kind, bus, address)

_CHIPS: dict[str, tuple[type[Any], tuple[int, ...]]] = {
    "pcf8574": (pcf8574.PCF8574, pcf8574.ADDRESSES),
    "mcp23017": (mcp23017.MCP23017, mcp23017.ADDRESSES),
}


class RelaySetupError(GatewayError, ValueError):
    """A configured output cannot be built (not absent hardware); the message names it."""

    def __init__(self, relay: str, problem: str) -> None:
        super().__init__(f"relay {relay!r}: {problem}")
        self.relay, self.problem = relay, problem


def chip_key(cfg: OutputConfig) -> ChipKey | None:
    """Which expander chip an output is on; None for a GPIO output."""
    if cfg.kind in EXPANDERS and cfg.address is not None:
        return (cfg.kind, cfg.bus, cfg.address)
    return None


class RelayHardware:
    def __init__(
        self, pin_factory: Any = None, open_i2c: Callable[[int], Any] | None = None
    ) -> None:
        self.factory = pin_factory
        self._open_i2c = open_i2c or _open_bus
        self._buses: dict[int, Any] = {}
        self._chips: dict[ChipKey, Any] = {}

    def open(self, cfg: OutputConfig, level: float) -> Output:
        """The output, driven at `level`. OSError: absent hardware; RelaySetupError: anything else."""
        try:
            return self._build(cfg, level)
        except (OSError, RelaySetupError):
            raise
        except Exception as exc:  # a missing library, a bad address or pin: not worth retrying
            raise RelaySetupError(cfg.name, f"{where(cfg)}: {why(exc)}") from exc

    def chips(self) -> list[ChipKey]:
        """The chips that answered so far."""
        return list(self._chips)

    def probe(self, key: ChipKey) -> None:
        self._chips[key].open()

    def check(self, key: ChipKey) -> str | None:
        """None if the chip holds what was written to it, else what differs; OSError if silent."""
        return self._chips[key].check()

    def reinit(self, key: ChipKey, levels: Mapping[Output, float]) -> None:
        """Set the chip up again, its outputs at `levels` (and the others as last written)."""
        pins = {}
        for out, level in levels.items():
            if not isinstance(out, ExpanderOutput):
                raise TypeError(f"{out!r} is not a pin of an expander")
            pins[out.pin] = out.pin_level(level)
        self._chips[key].reinit(pins)

    def _build(self, cfg: OutputConfig, level: float) -> Output:
        if cfg.kind == "gpio":
            return GpioOutput(
                cfg.pin, active_low=cfg.active_low, initial=level, pin_factory=self._pin_factory()
            )
        if cfg.kind == "pwm":
            return PwmOutput(
                cfg.pin,
                active_low=cfg.active_low,
                initial=level,
                frequency=cfg.frequency,
                pin_factory=self._pin_factory(),
            )
        return self._chip(cfg).output(cfg.pin, active_low=cfg.active_low, initial=level)

    def _chip(self, cfg: OutputConfig) -> Any:
        key = chip_key(cfg)
        assert key is not None  # the config model guarantees an address for expanders
        if key not in self._chips:
            cls, addresses = _CHIPS[cfg.kind]
            check_address(key[2], addresses, cls.__name__)  # before any I/O: a config problem
            chip = cls(self._i2c_bus(cfg.bus), key[2])
            chip.open()  # DeviceNotFound while the chip does not answer: not kept, probed again
            self._chips[key] = chip
        return self._chips[key]

    def _pin_factory(self) -> Any:
        if self.factory is None:
            from drivers.bus.gpio import default_factory

            self.factory = default_factory()
        return self.factory

    def _i2c_bus(self, number: int) -> Any:
        if number not in self._buses:  # a bus that will not open is not kept: opened again later
            self._buses[number] = self._open_i2c(number)
        return self._buses[number]


def setup_problems(
    configs: Sequence[OutputConfig], new_i2c: Callable[[], Any] | None = None
) -> list[RelaySetupError]:
    """What would stop start-up, found without opening any device (for check-config)."""
    problems = []
    for cfg in configs:
        try:
            if cfg.kind in EXPANDERS:
                cls, _ = _CHIPS[cfg.kind]
                cls((new_i2c or _closed_bus)(), cfg.address)
            else:
                importlib.import_module("gpiozero")
        except Exception as exc:  # noqa: BLE001 - each one is reported, naming the relay
            problems.append(RelaySetupError(cfg.name, f"{where(cfg)}: {why(exc)}"))
    return problems


def _open_bus(number: int) -> Any:
    from drivers.bus.i2c import open_bus

    return open_bus(number)


def _closed_bus() -> Any:
    import smbus2

    return smbus2.SMBus()  # no bus number: nothing is opened


def where(cfg: OutputConfig) -> str:
    if cfg.kind in ("gpio", "pwm"):
        return f"{cfg.kind} pin {cfg.pin}"
    return f"{cfg.kind} 0x{cfg.address:02X} pin {cfg.pin} on /dev/i2c-{cfg.bus}"


def why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
