"""The service's plain config models (gateway.modelbase) against the pydantic ones they stand in for.

Each check runs in a fresh interpreter that calls `use_plain()` first, as `edge-gateway run` does,
validates the file in a child process (`load_in_child`) and prints what it got; the same file loaded
with pydantic here must give the same values.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load

REPO = Path(__file__).resolve().parents[2]

PLAIN_LOAD = """
import json, sys
from gateway import modelbase
modelbase.use_plain()
from gateway.config import ConfigError, load_in_child
try:
    config, _warnings = load_in_child(sys.argv[1], check=False)
except ConfigError as exc:
    print(json.dumps({"problems": exc.problems}))
    sys.exit(0)
from gateway.sensors.config import NON_DRIVER_FIELDS
print(json.dumps({
    "pydantic_loaded": any(m.split(".")[0] in ("pydantic", "pydantic_core") for m in sys.modules),
    "dump": repr(config.model_dump()),
    "sensor_options": [repr(s.model_dump(exclude=set(NON_DRIVER_FIELDS))) for s in config.sensors],
    "fields_set": [sorted(s.model_fields_set) for s in config.sensors],
    "warnings": config.warnings(),
    "listeners": [(l.is_loopback, l.anonymous_allowed) for l in config.broker.listeners],
    "broker_settings": repr(config.broker.settings("x")),
    "hashable": hash(config.gateway) == hash(config.gateway),
    "copy": repr(config.gateway.model_copy(update={"log_level": "DEBUG"}).model_dump()),
}))
"""


def plain_load(path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PLAIN_LOAD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("name", ["gateway.toml", "demo.toml", "gateway.package.toml"])
def test_plain_models_hold_what_pydantic_validated(name):
    from gateway.sensors.config import NON_DRIVER_FIELDS

    path = REPO / "config" / name
    expected = load(path)
    got = plain_load(path)
    assert got["pydantic_loaded"] is False
    assert got["dump"] == repr(expected.model_dump())
    assert got["sensor_options"] == [
        repr(s.model_dump(exclude=set(NON_DRIVER_FIELDS))) for s in expected.sensors
    ]
    assert got["fields_set"] == [sorted(s.model_fields_set) for s in expected.sensors]
    assert got["warnings"] == expected.warnings()
    assert got["listeners"] == [
        [lis.is_loopback, lis.anonymous_allowed] for lis in expected.broker.listeners
    ]
    assert got["broker_settings"] == repr(expected.broker.settings("x"))
    assert got["hashable"] is True
    # a reload's effective config (gateway.reloader.effective) is made with model_copy
    assert got["copy"] == repr(
        expected.gateway.model_copy(update={"log_level": "DEBUG"}).model_dump()
    )


def test_a_bad_config_reports_the_same_problems_from_the_child(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[broker]\nmax_connections = 0\nbogus = 1\n[[sensors]]\ntype = "simulated"\n')
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert plain_load(path) == {"problems": exc.value.problems}
    assert len(exc.value.problems) == 3


def test_an_unreadable_config_is_one_problem(tmp_path):
    got = plain_load(tmp_path / "missing.toml")
    assert len(got["problems"]) == 1 and "cannot read" in got["problems"][0]


def test_no_gateway_module_imports_pydantic_itself():
    """A config module that imported pydantic directly would bring it (about 12 MB) back into the
    service; its models must come from gateway.modelbase (and be listed in CONFIG_MODULES)."""
    from gateway import modelbase

    offenders = []
    for path in sorted((REPO / "gateway").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        if module == "gateway.modelbase":
            continue
        if any(line.startswith(("from pydantic", "import pydantic")) for line in text.splitlines()):
            offenders.append(module)
        if "from gateway.modelbase import" in text and "BaseModel" in text:
            assert module in modelbase.CONFIG_MODULES, module
    assert offenders == []
