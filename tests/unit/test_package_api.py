"""Each package's declared public API (`__all__` in its `__init__`, gateway.lazyexports): every
name resolves to the object in the module the package says it lives in, and importing a package
loads none of its modules (checked in a fresh interpreter)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

PACKAGES = [
    "gateway.automation",
    "gateway.bridge",
    "gateway.broker",
    "gateway.broker.auth",
    "gateway.broker.store",
    "gateway.mqtt",
    "gateway.relays",
    "gateway.sensors",
    "gateway.web",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_comes_from_its_home_module(name: str) -> None:
    package = importlib.import_module(name)
    homes = {n: module for module, names in package._HOMES.items() for n in names}
    assert sorted(package.__all__) == sorted(homes)
    for public in package.__all__:
        home = importlib.import_module(f"{name}.{homes[public]}")
        assert getattr(package, public) is getattr(home, public)


@pytest.mark.parametrize("name", PACKAGES)
def test_an_unknown_name_is_an_attribute_error(name: str) -> None:
    package = importlib.import_module(name)
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name  # noqa: B018


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_importing_the_packages_loads_none_of_their_modules() -> None:
    loaded = _loaded_after("\n".join(f"import {name}" for name in PACKAGES))
    modules = [m for m in loaded if m.startswith("gateway.") and m not in PACKAGES]
    assert modules == ["gateway.lazyexports"]


def test_the_broker_core_loads_neither_the_sqlite_store_nor_scram() -> None:
    loaded = _loaded_after("import gateway.broker.core")
    assert "gateway.broker.core" in loaded  # the positive control
    for absent in ("sqlite3", "gateway.broker.store.sqlite", "gateway.broker.auth.scram"):
        assert absent not in loaded


def test_instances_of_finds_instances_without_loading_a_module_nobody_used():
    code = (
        "import sys\n"
        "from gateway.lazyexports import instances_of\n"
        "assert instances_of([object()], 'gateway.sensors.scheduler', 'SensorService') == []\n"
        "assert 'gateway.sensors.scheduler' not in sys.modules\n"
        "from collections import OrderedDict\n"
        "d = OrderedDict()\n"
        "assert instances_of([d, {}, 1], 'collections', 'OrderedDict') == [d]\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
