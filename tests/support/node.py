"""Node.js clients for the web tests: the packages of tests/integration/web_js/package.json are
installed once into a cache directory named after that file's hash (~/.cache/pi-edge-gateway-tests,
or $GATEWAY_NODE_CACHE), so later runs start at once and a changed package.json installs afresh."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

WEB_JS = Path(__file__).resolve().parents[1] / "integration" / "web_js"


def node_modules() -> Path:
    """The directory holding node_modules for the web_js scripts (skips without node and npm)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed (apt nodejs npm)")
    manifest = (WEB_JS / "package.json").read_bytes()
    cache = Path(
        os.environ.get("GATEWAY_NODE_CACHE", Path.home() / ".cache" / "pi-edge-gateway-tests")
    )
    target = cache / hashlib.sha256(manifest).hexdigest()[:16]
    if not (target / "node_modules" / ".done").exists():
        target.mkdir(parents=True, exist_ok=True)
        (target / "package.json").write_bytes(manifest)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            check=True,
            timeout=600,
            capture_output=True,
        )
        (target / "node_modules" / ".done").write_text("")
    return target / "node_modules"


def run_node(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, NODE_PATH=str(node_modules()))
    return subprocess.run(
        ["node", str(WEB_JS / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
