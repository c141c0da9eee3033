"""`GatewayError`: the base of every error the gateway raises on purpose.

It sits below every other module (it imports nothing), so the codec, the broker, the config,
sensors and relays all derive from it without depending on each other. An error that fits two
worlds also derives from the builtin its callers already catch (gpiozero's pattern):
`ConfigError(GatewayError, ValueError)`, `DeviceUnavailable(GatewayError, OSError)`. An exception
that is not a `GatewayError` escaping a layer is a bug, not a refusal.
"""

from __future__ import annotations

__all__ = ["GatewayError"]


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""
