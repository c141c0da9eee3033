"""Package APIs that cost nothing to import.

How this works: a package's `__init__` declares its public names in `__all__` and, in `_HOMES`,
the module each lives in; `lazy_getattr` gives it the module `__getattr__` (PEP 562) that imports
a name's module on first use and keeps the name. So `from gateway.broker import Broker` works,
while `import gateway.broker.core` still loads only the core: the broker without a store never
loads sqlite3, a gateway without TLS never loads ssl, and importing a package never runs into an
import cycle through its `__init__`. Type checkers see the names through the `__init__`'s
`if TYPE_CHECKING:` imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_getattr(package: str, homes: Mapping[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """The `__getattr__` of `package`, whose public names live in the modules named by `homes`
    (module relative to the package -> the names it holds)."""
    home_of = {name: module for module, names in homes.items() for name in names}
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's required name
        module = home_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # found directly next time
        return value

    return __getattr__


def instances_of(objects: Iterable[Any], module: str, name: str) -> list[Any]:
    """The objects that are instances of `module.name`, without importing `module`: when it was
    never imported no instance of its class can exist, and importing it only to find none would
    load it into a gateway that does not use it (the sensor service's modules cost 1.4 MB)."""
    loaded = sys.modules.get(module)
    if loaded is None:
        return []
    cls = getattr(loaded, name)
    return [o for o in objects if isinstance(o, cls)]
