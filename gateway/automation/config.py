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

    [location]                     # for sunrise/sunset, and the zone schedules are read in
    latitude = 52.52
    longitude = 13.40
    timezone = "Europe/Berlin"     # default: the system's (/etc/localtime)

    [[schedules]]
    name = "pump-morning"
    cron = "0 6 * * *"             # or at = "07:30" / "sunset-00:30" (daily)
    relay = "pump"                 # the action, as a rule's: relay (state, for) or publish (payload)
    state = "ON"

    [[schedules]]
    name = "porch-light"
    on = "sunset-00:30"            # a window: ON at on, OFF at off (or payload_on / payload_off)
    off = "23:00"
    relay = "porch"

Cross-checks against sensors and relays are made by the gateway config (`check_rules`,
`check_schedules`); that a sensor reports the quantity is checked with its driver
(`gateway.automation.service`).
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
    except Exception as exc:  # noqa: BLE001 - the codec's ProtocolError: here a config mistake
        raise ValueError(f"topic {value!r}: {exc}") from None
    return value


def _topic(value: str) -> str:
    try:
        validate_topic_name(value)
    except Exception as exc:  # noqa: BLE001 - as above
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
        if self.publish is not None and (
            "state" in self.model_fields_set or self.duration is not None
        ):
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
            raise ValueError(
                f"{name}: watch either sensor = NAME (with quantity) or topic = FILTER"
            )
        if self.sensor is not None and self.quantity is None:
            raise ValueError(f"{name}: sensor needs quantity (which of its values to watch)")
        if self.topic is not None and self.quantity is not None:
            raise ValueError(
                f"{name}: quantity belongs to sensor rules (use field for JSON payloads)"
            )
        if self.field is not None and self.topic is None:
            raise ValueError(f"{name}: field belongs to topic rules")
        given = [k for k in ("above", "below", "equals") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"{name}: give exactly one of above, below, equals (not {given or 'none'})"
            )
        if self.until_below is not None and (self.above is None or self.until_below > self.above):
            raise ValueError(f"{name}: until_below goes with above and must not exceed it")
        if self.until_above is not None and (self.below is None or self.until_above < self.below):
            raise ValueError(f"{name}: until_above goes with below and must not be under it")
        if self.trigger == "message" and (
            self.topic is None
            or self.on_inactive
            or self.hold_for
            or self.until_below is not None
            or self.until_above is not None
        ):
            raise ValueError(
                f'{name}: trigger = "message" is for topic rules with on_active only '
                f"(no on_inactive, for or until_*)"
            )
        if not self.on_active and not self.on_inactive:
            raise ValueError(f"{name}: no on_active or on_inactive action: it would do nothing")
        return self

    @property
    def relays(self) -> set[str]:
        return {a.relay for a in (*self.on_active, *self.on_inactive) if a.relay is not None}


def _unique(items: tuple[RuleConfig, ...] | tuple[ScheduleConfig, ...]) -> tuple:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            kind = "rule" if isinstance(item, RuleConfig) else "schedule"
            raise ValueError(f"{kind} name {item.name!r} is used twice")
        seen.add(item.name)
    return items


RuleList = Annotated[tuple[RuleConfig, ...], AfterValidator(_unique)]


def _zone(value: str) -> str:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone {value!r} is not a known zone name (e.g. 'Europe/Berlin')"
        ) from None
    return value


class LocationConfig(_Model):
    """Where the gateway is: sunrise and sunset, and the zone schedules are read in."""

    latitude: float | None = Field(None, ge=-90, le=90)  # degrees north
    longitude: float | None = Field(None, ge=-180, le=180)  # degrees east
    timezone: Annotated[str, AfterValidator(_zone)] | None = None  # None: /etc/localtime

    @model_validator(mode="after")
    def _both(self) -> LocationConfig:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude go together")
        return self


def _time(value: str) -> str:
    from gateway.automation.schedules import parse_time

    parse_time(value)
    return value


def _cron(value: str) -> str:
    from gateway.automation.schedules import check_cron

    return check_cron(value)


TimeText = Annotated[str, AfterValidator(_time)]


class ScheduleConfig(_Model):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    cron: Annotated[str, AfterValidator(_cron)] | None = None  # five fields, local time
    at: TimeText | None = None  # daily: HH:MM or sunrise/sunset+-HH:MM
    on: TimeText | None = None  # a window: from on ...
    off: TimeText | None = None  # ... to off
    # the action (a rule's Action, inline): a relay ...
    relay: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    state: Literal["ON", "OFF", "TOGGLE"] | None = None  # point events; default ON
    duration: float | None = Field(None, gt=0, le=86_400, alias="for")
    # ... or a message
    publish: Annotated[str, AfterValidator(_topic)] | None = None
    payload: str | None = None  # point events; default ""
    payload_on: str = "ON"  # windows
    payload_off: str = "OFF"
    qos: Literal[0, 1, 2] = 1
    retain: bool = False

    @model_validator(mode="after")
    def _shape(self) -> ScheduleConfig:
        name = f"schedule {self.name!r}"
        kinds = [k for k in ("cron", "at", "on") if getattr(self, k) is not None]
        if len(kinds) != 1 or (self.on is None) != (self.off is None):
            raise ValueError(f'{name}: give cron = "...", at = "HH:MM", or on and off (a window)')
        if self.on is not None and self.on.strip() == (self.off or "").strip():
            raise ValueError(f"{name}: on and off are the same time")
        if (self.relay is None) == (self.publish is None):
            raise ValueError(f"{name}: the action is either relay = NAME or publish = TOPIC")
        window = self.on is not None
        if window and (
            self.state is not None or self.duration is not None or self.payload is not None
        ):
            raise ValueError(
                f"{name}: a window switches ON at on and OFF at off (no state, for "
                f"or payload; a publish window sends payload_on / payload_off)"
            )
        if not window and self.model_fields_set & {"payload_on", "payload_off"}:
            raise ValueError(f"{name}: payload_on and payload_off belong to windows")
        set_ = self.model_fields_set
        if self.publish is not None and (self.state is not None or self.duration is not None):
            raise ValueError(f"{name}: state and for belong to relay actions")
        if self.relay is not None and (
            self.payload is not None or set_ & {"payload_on", "payload_off", "qos", "retain"}
        ):
            raise ValueError(f"{name}: payload, qos and retain belong to publish actions")
        if self.state == "OFF" and self.duration is not None:
            raise ValueError(f"{name}: for goes with ON or TOGGLE")
        return self

    @property
    def needs_sun(self) -> bool:
        return any(t is not None and t.startswith("sun") for t in (self.at, self.on, self.off))

    def action(self, edge: str) -> dict[str, Any]:
        """The action for a point event (`edge` 'fire') or a window's 'on' / 'off' edge, as the
        keyword arguments of `gateway.automation.service.perform`."""
        if self.relay is not None:
            state = (self.state or "ON") if edge == "fire" else edge.upper()
            return {
                "relay": self.relay,
                "state": state,
                "duration": self.duration if edge == "fire" else None,
            }
        payload = (
            (self.payload or "")
            if edge == "fire"
            else self.payload_on
            if edge == "on"
            else self.payload_off
        )
        return {"publish": self.publish, "payload": payload, "qos": self.qos, "retain": self.retain}


ScheduleList = Annotated[tuple[ScheduleConfig, ...], AfterValidator(_unique)]


def check_schedules(
    schedules: tuple[ScheduleConfig, ...], relays: set[str], location: LocationConfig
) -> None:
    """Schedules name relays that exist, and sun times have a location (ValueError naming it)."""
    for schedule in schedules:
        if schedule.relay is not None and schedule.relay not in relays:
            raise ValueError(
                f"schedule {schedule.name!r}: relay {schedule.relay!r} is not configured"
            )
        if schedule.needs_sun and location.latitude is None:
            raise ValueError(
                f"schedule {schedule.name!r}: sunrise/sunset needs [location] "
                f"latitude and longitude"
            )


def check_rules(rules: tuple[RuleConfig, ...], sensors: set[str], relays: set[str]) -> None:
    """Rules name sensors and relays that exist (raises ValueError naming the rule)."""
    for rule in rules:
        if rule.sensor is not None and rule.sensor not in sensors:
            raise ValueError(f"rule {rule.name!r}: sensor {rule.sensor!r} is not configured")
        missing = sorted(rule.relays - relays)
        if missing:
            raise ValueError(f"rule {rule.name!r}: relay {missing[0]!r} is not configured")


def quantity_problems(
    rules: tuple[RuleConfig, ...], quantities: dict[str, tuple[tuple[str, str], ...]]
) -> list[str]:
    """`rules[name]: ...` for each sensor rule whose sensor does not report its quantity
    (`quantities`: sensor name -> what it publishes; sensors that could not be built are skipped)."""
    out = []
    for rule in rules:
        if rule.sensor in quantities and rule.quantity not in dict(quantities[rule.sensor]):
            known = [q for q, _ in quantities[rule.sensor]]
            out.append(
                f"rules[{rule.name}]: sensor {rule.sensor!r} reports {known}, not {rule.quantity!r}"
            )
    return out


def field_value(document: Any, path: str) -> Any:
    """`a.b` of a JSON document, or None."""
    for key in path.split("."):
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document
