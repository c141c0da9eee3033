"""Start-up checks of gateway.app: the event loop choice (a crash's traceback must not carry a
"No module named 'uvloop'" chain) and the open-file limit against max_connections."""

from __future__ import annotations

import asyncio
import sys
import traceback
from pathlib import Path

import pytest

from gateway import app

DEMO = Path(__file__).parents[2] / "config" / "demo.toml"


def test_a_crash_without_uvloop_carries_no_import_error_chain(monkeypatch, caplog):
    """A bug is the one case that prints a traceback (exit code 70, gateway.exitcodes)."""
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError

    async def crash(config, path=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "run", crash)
    monkeypatch.setattr(app, "setup_logging", lambda level: None)
    monkeypatch.chdir(DEMO.parents[1])
    assert app.run_from_path(DEMO, loop="auto") == 70
    [record] = [r for r in caplog.records if r.exc_info]
    assert "internal error" in record.getMessage()
    error = record.exc_info[1]
    assert isinstance(error, RuntimeError)
    assert error.__context__ is None and error.__cause__ is None
    text = "".join(traceback.format_exception(error))
    assert "No module named" not in text and "During handling" not in text


def test_loop_choices(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert app._event_loop_runner("auto") is asyncio.run
    assert app._event_loop_runner("asyncio") is asyncio.run
    with pytest.raises(ImportError):
        app._event_loop_runner("uvloop")


def test_open_file_limit_warning(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 4096))
    warning = app.open_file_limit_warning(1000)
    assert warning is not None and "open-file limit is 1024" in warning
    assert app.open_file_limit_warning(800) is None  # 800 + 200 fit in 1024
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY,) * 2)
    assert app.open_file_limit_warning(10**6) is None


def test_the_unit_allows_the_default_max_connections_and_the_reserve():
    from gateway.config import BrokerConfig

    unit = (Path(__file__).parents[2] / "systemd" / "edge-gateway.service").read_text()
    limit = int(
        next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("LimitNOFILE="))
    )
    assert limit >= BrokerConfig().max_connections + app.FD_RESERVE
