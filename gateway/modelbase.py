"""What the config models are built on: pydantic where a config is validated, plain records in the
running service.

How this works: the config modules (CONFIG_MODULES) take BaseModel, Field, ConfigDict, the validator decorators and the
constrained types from here, not from pydantic. By default these are pydantic's, and
`load(path)` validates. `edge-gateway run` calls `use_plain()` before any config module is
imported: the same classes are then defined on `PlainModel`, a frozen record that does no
validation, and the config is validated in a child process (`python -m gateway.config --pickle
PATH`, pydantic, every error `check-config` reports) whose validated tree comes back pickled and is
loaded into the plain classes. The service then never imports pydantic and what pydantic loads with
it (pydantic-core, importlib.metadata, hashlib and OpenSSL's libcrypto, uuid, zoneinfo, email,
zipfile: about 12 MB of resident memory, a third of the gateway's).

A `PlainModel` has what the running code uses of a pydantic model: attributes (frozen), the class's
own properties and methods, `model_fields`, `model_fields_set`, `model_dump(exclude=...)`,
`model_copy(update=...)`, equality and hashing; `__setstate__` takes the state pydantic pickles.
"""

from __future__ import annotations

import sys
from typing import Any

_plain = False
#: every module that defines config models (each takes its pydantic names from here, never from
#: pydantic: tests/unit/test_modelbase.py checks that no gateway module imports pydantic itself)
CONFIG_MODULES = (
    "gateway.config",
    "gateway.sensors.config",
    "gateway.relays.config",
    "gateway.bridge.config",
    "gateway.web.config",
    "gateway.automation.config",
)


def use_plain() -> None:
    """Build the config models as plain records from now on (before any config module loads)."""
    global _plain
    loaded = [name for name in CONFIG_MODULES if name in sys.modules]
    if loaded:
        raise RuntimeError(f"use_plain() after {', '.join(loaded)} was imported")
    _plain = True


def plain() -> bool:
    return _plain


class PlainModel:
    """A validated config section, without pydantic (see the module doc)."""

    model_fields: dict[str, None] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__()
        fields: dict[str, None] = {}
        for klass in reversed(cls.__mro__):
            if klass is PlainModel or not issubclass(klass, PlainModel):
                continue
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if (
                    not str(annotation).startswith(("ClassVar", "typing.ClassVar"))
                    and not name.startswith("_")
                    and name != "model_config"
                ):
                    fields[name] = None
        cls.model_fields = fields

    def __init__(self, **values: Any) -> None:  # only for defaults built in class bodies
        object.__setattr__(self, "__dict__", dict(values))
        object.__setattr__(self, "_fields_set", set(values))

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", dict(state["__dict__"]))
        object.__setattr__(self, "_fields_set", set(state.get("__pydantic_fields_set__") or ()))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    @property
    def model_fields_set(self) -> set[str]:
        return self._fields_set  # type: ignore[attr-defined]  # set through object.__setattr__

    def model_dump(self, *, exclude: set[str] | frozenset[str] | None = None) -> dict[str, Any]:
        return {
            name: _dump(getattr(self, name))
            for name in self.model_fields
            if not exclude or name not in exclude
        }

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Any:
        """A copy with some fields replaced, not validated (as pydantic's `model_copy`)."""
        copy = object.__new__(type(self))
        object.__setattr__(copy, "__dict__", {**self.__dict__, **(update or {})})
        fields_set = self.model_fields_set | set(update or ())
        object.__setattr__(copy, "_fields_set", fields_set)
        return copy

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.model_fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.model_fields)
        return f"{type(self).__name__}({args})"


def _dump(value: Any) -> Any:
    if isinstance(value, PlainModel):
        return value.model_dump()
    if isinstance(value, (list, tuple)):
        return type(value)(_dump(v) for v in value)
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


class PlainValidationError(ValueError):
    """Never raised: plain models do not validate (the child process did)."""


def _field(default: Any = None, **_: Any) -> Any:
    return default  # the class attribute a plain model falls back to


def _config_dict(**settings: Any) -> dict[str, Any]:
    return settings


def _decorator(*_: Any, **__: Any) -> Any:
    return lambda function: function


class _Marker:
    def __init__(self, *_: Any, **__: Any) -> None: ...


_PLAIN_NAMES: dict[str, Any] = {
    "BaseModel": PlainModel,
    "ConfigDict": _config_dict,
    "Field": _field,
    "ValidationError": PlainValidationError,
    "model_validator": _decorator,
    "field_validator": _decorator,
    "AfterValidator": _Marker,
    "BeforeValidator": _Marker,
    "NonNegativeFloat": float,
    "PositiveFloat": float,
    "NonNegativeInt": int,
    "PositiveInt": int,
}


def __getattr__(name: str) -> Any:
    if name not in _PLAIN_NAMES:
        raise AttributeError(name)
    if _plain:
        return _PLAIN_NAMES[name]
    import pydantic

    return getattr(pydantic, name)
