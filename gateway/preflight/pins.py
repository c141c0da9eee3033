"""Which BCM GPIO pin each part of the config uses, and the pins used twice.

A pin has one user: a GPIO input, a relay, a pulse counter, a PWM output, or a bus the kernel drives
on fixed pins. A bus is one user however many devices share it (ten I2C chips on bus 1 all use
SDA/SCL = BCM 2/3; two Modbus meters share one serial port), but a GPIO sensor or relay on a bus's
pin breaks the bus. The buses' pins are the Raspberry Pi's fixed ones (the same on every model with
the 40-pin header):

    I2C bus 1 (i2c_arm)         SDA 2, SCL 3           I2C bus 0 (the HAT EEPROM bus)   0, 1
    the primary UART            TX 14, RX 15           (/dev/serial0, /dev/ttyAMA0, /dev/ttyS0)
    SPI bus 0                   MOSI 10, MISO 9, SCLK 11, CE0 8, CE1 7
    SPI bus 1 (dtoverlay=spi1)  MOSI 20, MISO 19, SCLK 21, CE0 18, CE1 17, CE2 16
    1-Wire (dtoverlay=w1-gpio)  gpiopin, default 4     DHT (dtoverlay=dht11)  gpiopin, default 4

Other I2C and SPI buses (Pi 4 overlays, USB adapters) and other serial ports (USB) are not
checked: their pins depend on overlays the config does not name.
"""

from __future__ import annotations

from collections import defaultdict

from gateway.config import GatewayConfig

I2C_PINS = {1: {2: "SDA", 3: "SCL"}, 0: {0: "SDA", 1: "SCL"}}
UART_PORTS = ("/dev/serial0", "/dev/ttyAMA0", "/dev/ttyS0")
UART_PINS = {14: "TX", 15: "RX"}
SPI_PINS = {0: {10: "MOSI", 9: "MISO", 11: "SCLK"}, 1: {20: "MOSI", 19: "MISO", 21: "SCLK"}}
SPI_CHIP_SELECTS = {0: (8, 7), 1: (18, 17, 16)}


def pin_problems(config: GatewayConfig) -> list[str]:
    """One `key: problem` line per pin that two users claim."""
    claims: dict[int, dict[str, list[str]]] = defaultdict(dict)  # pin -> user -> keys
    for pin, user, key in _claims(config):
        keys = claims[pin].setdefault(user, [])
        if key not in keys:
            keys.append(key)
    out = []
    for pin in sorted(claims):
        users = claims[pin]
        if len(users) < 2:
            continue
        # the line starts with a key the operator edits: a sensor's or relay's own pin first
        first = next((user for user, keys in users.items() if keys == [user]), next(iter(users)))
        others = [
            user if keys == [user] else f"{user} ({', '.join(keys)})"
            for user, keys in users.items()
            if user != first
        ]
        where = first if users[first] == [first] else users[first][0]
        out.append(f"{where}: BCM {pin} is also used by {' and by '.join(others)}")
    return out


def _claims(config: GatewayConfig) -> list[tuple[int, str, str]]:
    """(pin, user, key): `user` names what owns the pin; keys of one user share it."""
    out: list[tuple[int, str, str]] = []
    for sensor in config.sensors:
        key = f"sensors[{sensor.name}]"
        kind = getattr(sensor, "type", "")
        for field in type(sensor).model_fields:
            if field == "pin" or field.endswith("_pin") or field.startswith("pin_"):
                if field == "gpiopin":
                    continue
                value = getattr(sensor, field)
                if isinstance(value, int):
                    out.append((value, f"{key}.{field}", f"{key}.{field}"))
        if kind == "ds18b20":
            out.append((sensor.gpiopin, f"1-Wire on BCM {sensor.gpiopin}", f"{key}.gpiopin"))
        elif kind in ("dht11", "dht22", "am2302"):
            out.append((sensor.gpiopin, f"{key}.gpiopin", f"{key}.gpiopin"))
        port = getattr(sensor, "port", None)
        if port in UART_PORTS:
            out += [(pin, f"the UART's {role}", f"{key}.port") for pin, role in UART_PINS.items()]
        if hasattr(sensor, "chip_select"):
            out += _spi(sensor.bus, sensor.chip_select, key)
        elif hasattr(sensor, "bus") and sensor.bus in I2C_PINS:
            out += _i2c(sensor.bus, key)
    for relay in config.relays:
        key = f"relays[{relay.name}]"
        if relay.kind in ("gpio", "pwm"):
            out.append((relay.pin, f"{key}.pin", f"{key}.pin"))
        elif relay.bus in I2C_PINS:
            out += _i2c(relay.bus, key)
    return out


def _i2c(bus: int, key: str) -> list[tuple[int, str, str]]:
    return [(pin, f"I2C bus {bus}'s {role}", key) for pin, role in I2C_PINS[bus].items()]


def _spi(bus: int, chip_select: int, key: str) -> list[tuple[int, str, str]]:
    if bus not in SPI_PINS:
        return []
    out = [(pin, f"SPI bus {bus}'s {role}", key) for pin, role in SPI_PINS[bus].items()]
    selects = SPI_CHIP_SELECTS[bus]
    if chip_select < len(selects):
        out.append((selects[chip_select], f"{key}.chip_select", f"{key}.chip_select"))
    return out
