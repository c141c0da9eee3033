"""The event loop choice: a crash's traceback must not carry a "No module named 'uvloop'" chain."""

from __future__ import annotations

import asyncio
import sys
import traceback
from pathlib import Path

import pytest

from gateway import app

DEMO = Path(__file__).parents[2] / "config" / "demo.toml"


def test_a_crash_without_uvloop_carries_no_import_error_chain(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError

    async def crash(config):  # noqa: ANN001
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "run", crash)
    monkeypatch.setattr(app, "setup_logging", lambda level: None)
    with pytest.raises(RuntimeError) as info:
        app.run_from_path(DEMO, loop="auto")
    assert info.value.__context__ is None and info.value.__cause__ is None
    text = "".join(traceback.format_exception(info.value))
    assert "No module named" not in text and "During handling" not in text


def test_loop_choices(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert app._event_loop_runner("auto") is asyncio.run
    assert app._event_loop_runner("asyncio") is asyncio.run
    with pytest.raises(ImportError):
        app._event_loop_runner("uvloop")
