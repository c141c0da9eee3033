"""A fake MCP23017 (IOCON.BANK = 0 register map, DS20001952C table 3-4) for FakeSMBus.

Power-on values: IODIR A/B = 0xFF (all inputs), everything else 0 (table 3-3). Writing GPIO writes
OLAT (§3.5.10). Reading GPIO returns, per pin, the latch for outputs and the external level
(`inputs[port]`, XOR IPOL) for inputs, so a driver that forgets to set IODIR reads back the input,
not what it latched. INTF and INTCAP are read-only. Registers past OLATB do not exist in this map:
touching one is a driver bug and raises.

`power_off()` makes the chip stop answering (every transaction NAKs, as with a loose hat);
`power_on()` brings it back with the power-on register values above; `brown_out()` is both at
once: a reset the bus never saw.
"""

from __future__ import annotations

from tests.fakes.i2c import RegisterChip, nak

IODIR, IPOL, IOCON_A, IOCON_B, INTF, INTCAP, GPIO, OLAT = (
    0x00,
    0x02,
    0x0A,
    0x0B,
    0x0E,
    0x10,
    0x12,
    0x14,
)
LAST_REGISTER = 0x15


class FakeMCP23017(RegisterChip):
    def __init__(self, address: int = 0x20) -> None:
        super().__init__(address, size=LAST_REGISTER + 1)
        self.inputs = [0x00, 0x00]  # levels driven from outside on input pins, per port
        self.powered = True
        self._por()

    def _por(self) -> None:
        self.regs[:] = bytes(LAST_REGISTER + 1)
        self.regs[IODIR] = self.regs[IODIR + 1] = 0xFF
        self.pointer = 0

    def power_off(self) -> None:
        self.powered = False

    def power_on(self) -> None:
        self._por()
        self.powered = True

    def brown_out(self) -> None:
        self.power_off()
        self.power_on()

    def write(self, data: bytes) -> None:
        if not self.powered:
            raise nak(self.address)
        if data and data[0] > LAST_REGISTER:
            raise ValueError(f"MCP23017 has no register 0x{data[0]:02X} with IOCON.BANK=0")
        super().write(data)

    def read(self, length: int) -> bytes:
        if not self.powered:
            raise nak(self.address)
        return super().read(length)

    def on_write(self, register: int, value: int) -> None:
        if register in (GPIO, GPIO + 1):
            register += OLAT - GPIO
        elif register in (IOCON_A, IOCON_B):
            self.regs[IOCON_A] = self.regs[IOCON_B] = value  # one register, two addresses
            return
        elif register in (INTF, INTF + 1, INTCAP, INTCAP + 1):
            return
        self.regs[register] = value

    def on_read(self, register: int) -> int:
        if register in (GPIO, GPIO + 1):
            return self.port_levels(register - GPIO)
        return self.regs[register]

    def port_levels(self, port: int) -> int:
        iodir = self.regs[IODIR + port]
        inputs = self.inputs[port] ^ self.regs[IPOL + port]
        return (self.regs[OLAT + port] & ~iodir | inputs & iodir) & 0xFF

    def level(self, pin: int) -> bool:
        port, bit = divmod(pin, 8)
        return bool(self.port_levels(port) >> bit & 1)
