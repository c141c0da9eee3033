"""`[[rules]]`: local automation rules, validated like the rest of the config.

    [[rules]]
    name = "greenhouse-fan"
    sensor = "greenhouse"          # watch a sensor's quantity ...
    quantity = "temperature"
    # topic = "home/alarm"         # ... or the messages on a topic (field = "a.b" for JSON)
    above = 28                     # or below = X, or equals = V (numbers, text, true/false)
    until_below = 26               # hysteresis (with above; until_above with below)
    for = 60                       # the condition must hold this long (seconds)
    on_active = [{ relay = "fan", state = "ON" }]
    on_inactive = [{ relay = "fan", state = "OFF" }, { publish = "greenhouse/fan", payload = "off" }]
    on_unavailable = "inactive"    # hold (default), inactive or active: when the sensor is offline

    [[rules]]
    name = "doorbell"
    topic = "home/button"          # every message "press" toggles the lamp
    equals = "press"
    trigger = "message"
    on_active = [{ relay = "lamp", state = "TOGGLE" }]

Cross-checks against sensors and relays are made by the gateway config (`check_rules`); that a
sensor reports the quantity is checked with its driver (`gateway.automation.service`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from gateway.modelbase import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gateway.mqtt.topics import validate_topic_filter, validate_topic_name
from gateway.sensors.config import NAME_PATTERN, QUANTITY_PATTERN


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _filter(value: str) -> str:
    try:
        validate_topic_filter(value)
    except Exception as exc:  # the codec's ProtocolError: here it is a config mistake
        raise ValueError(f"topic {value!r}: {exc}") from None
    return value


def _topic(value: str) -> str:
    try:
        validate_topic_name(value)
    except Exception as exc:
        raise ValueError(f"publish topic {value!r}: {exc}") from None
    if value.startswith("$"):
        raise ValueError(f"publish topic {value!r}: $-topics are the broker's")
    return value


class Action(_Model):
    """Switch a relay (through its safety rules) or publish a message."""

    relay: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    state: Literal["ON", "OFF", "TOGGLE"] = "ON"
    duration: float | None = Field(None, gt=0, le=86_400, alias="for")  # seconds on, then off
    publish: Annotated[str, AfterValidator(_topic)] | None = None
    payload: str = ""
    qos: Literal[0, 1, 2] = 1
    retain: bool = False

    @model_validator(mode="after")
    def _one(self) -> Action:
        if (self.relay is None) == (self.publish is None):
            raise ValueError("an action is either relay = NAME or publish = TOPIC")
        if self.publish is not None and ("state" in self.model_fields_set or self.duration is not None):
            raise ValueError("state and for belong to relay actions")
        if self.relay is not None and self.model_fields_set & {"payload", "qos", "retain"}:
            raise ValueError("payload, qos and retain belong to publish actions")
        return self


class RuleConfig(_Model):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    sensor: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    quantity: Annotated[str, Field(pattern=QUANTITY_PATTERN.pattern)] | None = None
    topic: Annotated[str, AfterValidator(_filter)] | None = None
    field: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")] | None = None
    above: float | None = None
    below: float | None = None
    equals: bool | float | str | None = None
    until_below: float | None = None
    until_above: float | None = None
    hold_for: Annotated[float, Field(ge=0, le=86_400, alias="for")] = 0.0
    #: "change": act when the condition becomes true or false (a level); "message": every message
    #: that meets the condition runs on_active (a button, an event), topic rules only
    trigger: Literal["change", "message"] = "change"
    on_active: list[Action] = []
    on_inactive: list[Action] = []
    on_unavailable: Literal["hold", "inactive", "active"] = "hold"

    @model_validator(mode="after")
    def _shape(self) -> RuleConfig:
        name = f"rule {self.name!r}"
        if (self.sensor is None) == (self.topic is None):
            raise ValueError(f"{name}: watch either sensor = NAME (with quantity) or topic = FILTER")
        if self.sensor is not None and self.quantity is None:
            raise ValueError(f"{name}: sensor needs quantity (which of its values to watch)")
        if self.topic is not None and self.quantity is not None:
            raise ValueError(f"{name}: quantity belongs to sensor rules (use field for JSON payloads)")
        if self.field is not None and self.topic is None:
            raise ValueError(f"{name}: field belongs to topic rules")
        given = [k for k in ("above", "below", "equals") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"{name}: give exactly one of above, below, equals (not {given or 'none'})")
        if self.until_below is not None and (self.above is None or self.until_below > self.above):
            raise ValueError(f"{name}: until_below goes with above and must not exceed it")
        if self.until_above is not None and (self.below is None or self.until_above < self.below):
            raise ValueError(f"{name}: until_above goes with below and must not be under it")
        if self.trigger == "message" and (self.topic is None or self.on_inactive or self.hold_for
                                           or self.until_below is not None
                                           or self.until_above is not None):
            raise ValueError(f"{name}: trigger = \"message\" is for topic rules with on_active only "
                             f"(no on_inactive, for or until_*)")
        if not self.on_active and not self.on_inactive:
            raise ValueError(f"{name}: no on_active or on_inactive action: it would do nothing")
        return self

    @property
    def relays(self) -> set[str]:
        return {a.relay for a in (*self.on_active, *self.on_inactive) if a.relay is not None}


def _unique(rules: tuple[RuleConfig, ...]) -> tuple[RuleConfig, ...]:
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ValueError(f"rule name {rule.name!r} is used twice")
        seen.add(rule.name)
    return rules


RuleList = Annotated[tuple[RuleConfig, ...], AfterValidator(_unique)]


def check_rules(rules: tuple[RuleConfig, ...], sensors: set[str], relays: set[str]) -> None:
    """Rules name sensors and relays that exist (raises ValueError naming the rule)."""
    for rule in rules:
        if rule.sensor is not None and rule.sensor not in sensors:
            raise ValueError(f"rule {rule.name!r}: sensor {rule.sensor!r} is not configured")
        missing = sorted(rule.relays - relays)
        if missing:
            raise ValueError(f"rule {rule.name!r}: relay {missing[0]!r} is not configured")


def quantity_problems(rules: tuple[RuleConfig, ...],
                      quantities: dict[str, tuple[tuple[str, str], ...]]) -> list[str]:
    """`rules[name]: ...` for each sensor rule whose sensor does not report its quantity
    (`quantities`: sensor name -> what it publishes; sensors that could not be built are skipped)."""
    out = []
    for rule in rules:
        if rule.sensor in quantities and rule.quantity not in dict(quantities[rule.sensor]):
            known = [q for q, _ in quantities[rule.sensor]]
            out.append(f"rules[{rule.name}]: sensor {rule.sensor!r} reports {known}, "
                       f"not {rule.quantity!r}")
    return out


def field_value(document: Any, path: str) -> Any:
    """`a.b` of a JSON document, or None."""
    for key in path.split("."):
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document
