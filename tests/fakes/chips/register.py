"""A plain register-map chip (no side effects), e.g. a TMP102-like temperature register."""

from __future__ import annotations

from tests.fakes.i2c import RegisterChip


class FakeRegisterChip(RegisterChip):
    def __init__(self, address: int, contents: dict[int, bytes] | None = None) -> None:
        super().__init__(address)
        for register, data in (contents or {}).items():
            self.regs[register : register + len(data)] = data
