"""Relay and output configuration: one `[[relays]]` table per output (pydantic v2, frozen, strict keys).

Rules that span outputs (unique names, interlock partners that exist, no two interlocked outputs
both on at power-on or at stop) are checked by `check_outputs`; use the `RelayList` type in the
gateway config so they run on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from gateway.modelbase import AfterValidator, BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # one topic level: no '/', '+', '#', no spaces
EXPANDERS = {"pcf8574": 8, "mcp23017": 16}  # kind -> number of pins
MIN_CHECK_INTERVAL = 0.5  # seconds; a shorter read-back period would only load the bus


class OutputConfig(BaseModel):
    """One output: where it is, how it behaves when the gateway starts and stops, its safety limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["gpio", "pwm", "pcf8574", "mcp23017"] = "gpio"
    pin: int = Field(ge=0)
    address: int | None = Field(default=None, ge=0x03, le=0x77)
    bus: int = Field(default=1, ge=0, le=255)  # /dev/i2c-<bus>, expanders only
    check_interval: float = Field(default=5.0, ge=0, le=3600)  # expanders: read-back check, 0 = off
    active_low: bool = False
    frequency: float = Field(default=100.0, gt=0, le=100_000)
    power_on: Literal["off", "on", "restore"] = "off"
    on_stop: Literal["off", "on", "keep"] = "off"
    max_on_seconds: float | None = Field(default=None, gt=0)
    min_off_seconds: float | None = Field(default=None, gt=0)
    interlock: tuple[str, ...] = ()
    accept_retained: bool = False
    max_command_age: float | None = Field(default=None, gt=0)
    ha_component: Literal["switch", "light", "fan", "none"] = "switch"
    title: str | None = Field(default=None, min_length=1, max_length=100)

    @property
    def pwm(self) -> bool:
        return self.kind == "pwm"

    @model_validator(mode="after")
    def _check_hardware(self) -> OutputConfig:
        if self.kind in EXPANDERS:
            if self.address is None:
                raise ValueError(f"{self.kind} output {self.name!r} needs an I2C 'address'")
            if self.pin >= EXPANDERS[self.kind]:
                raise ValueError(
                    f"{self.kind} pins are 0..{EXPANDERS[self.kind] - 1}, got {self.pin}"
                )
        elif self.address is not None:
            raise ValueError(f"'address' is only for I2C expanders, not kind {self.kind!r}")
        else:
            for key in ("bus", "check_interval"):
                if key in self.model_fields_set:
                    raise ValueError(f"{key!r} is only for I2C expanders, not kind {self.kind!r}")
        if 0 < self.check_interval < MIN_CHECK_INTERVAL:
            raise ValueError(
                f"check_interval is 0 (off) or at least {MIN_CHECK_INTERVAL:g} s, "
                f"got {self.check_interval:g}"
            )
        if self.name in self.interlock:
            raise ValueError(f"output {self.name!r} cannot be interlocked with itself")
        return self


def interlock_partners(outputs: Sequence[OutputConfig]) -> dict[str, frozenset[str]]:
    """Each output's interlock partners; an interlock listed on either side binds both."""
    partners: dict[str, set[str]] = {o.name: set() for o in outputs}
    for o in outputs:
        for other in o.interlock:
            partners[o.name].add(other)
            partners.setdefault(other, set()).add(o.name)
    return {name: frozenset(p) for name, p in partners.items()}


def check_outputs(outputs: Sequence[OutputConfig]) -> Sequence[OutputConfig]:
    """Cross-output rules; raises ValueError naming the offending outputs."""
    names = [o.name for o in outputs]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"relay names must be unique: {', '.join(duplicates)}")
    _check_hardware_unique(outputs)
    for o in outputs:
        if unknown := sorted(set(o.interlock) - set(names)):
            raise ValueError(f"output {o.name!r} is interlocked with unknown {', '.join(unknown)}")
    partners = interlock_partners(outputs)
    by_name = {o.name: o for o in outputs}
    for o in outputs:
        for p in sorted(partners[o.name]):
            if o.power_on == by_name[p].power_on == "on":
                raise ValueError(f"interlocked outputs {o.name!r} and {p!r} are both power_on = on")
            if o.on_stop == by_name[p].on_stop == "on":
                raise ValueError(f"interlocked outputs {o.name!r} and {p!r} are both on_stop = on")
    return outputs


def _check_hardware_unique(outputs: Sequence[OutputConfig]) -> None:
    seen: dict[tuple[str, int | None, int | None, int], str] = {}
    chips: dict[tuple[int, int], tuple[str, str]] = {}  # (bus, address) -> (kind, first output)
    for o in outputs:
        family = "gpio" if o.kind in ("gpio", "pwm") else o.kind
        bus = o.bus if o.kind in EXPANDERS else None
        key = (family, bus, o.address, o.pin)
        if key in seen:
            raise ValueError(f"outputs {seen[key]!r} and {o.name!r} use the same pin")
        seen[key] = o.name
        if o.kind in EXPANDERS and o.address is not None:
            kind, first = chips.setdefault((o.bus, o.address), (o.kind, o.name))
            if kind != o.kind:
                raise ValueError(
                    f"outputs {first!r} ({kind}) and {o.name!r} ({o.kind}) put two "
                    f"chips at address 0x{o.address:02X} on I2C bus {o.bus}"
                )


RelayList = Annotated[tuple[OutputConfig, ...], AfterValidator(check_outputs)]
