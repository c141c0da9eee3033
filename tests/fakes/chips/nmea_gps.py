"""A fake NMEA 0183 GPS receiver: formats GGA / RMC sentences with their XOR checksum."""

from __future__ import annotations

from functools import reduce


def sentence(body: str, *, corrupt: bool = False) -> bytes:
    """'GPGGA,...' -> b'$GPGGA,...*hh\\r\\n' (checksum: XOR of the body's bytes)."""
    value = reduce(lambda a, b: a ^ b, body.encode("ascii"), 0) ^ (0x10 if corrupt else 0)
    return f"${body}*{value:02X}\r\n".encode("ascii")


def ddmm(degrees: float, lat: bool) -> tuple[str, str]:
    hemisphere = ("N" if degrees >= 0 else "S") if lat else ("E" if degrees >= 0 else "W")
    d = abs(degrees)
    whole = int(d)
    return f"{whole:0{2 if lat else 3}d}{(d - whole) * 60:07.4f}", hemisphere


class FakeGps:
    def __init__(self, talker: str = "GP") -> None:
        self.talker = talker
        self.latitude, self.longitude, self.altitude = 52.520008, 13.404954, 34.5
        self.quality, self.satellites, self.hdop = 1, 9, 0.9
        self.knots, self.course = 10.0, 54.7

    def gga(self, **kw) -> bytes:
        if self.quality == 0:
            body = f"{self.talker}GGA,123519.00,,,,,0,{self.satellites:02d},,,,,,,"
        else:
            lat, ns = ddmm(self.latitude, True)
            lon, ew = ddmm(self.longitude, False)
            body = (
                f"{self.talker}GGA,123519.00,{lat},{ns},{lon},{ew},{self.quality},"
                f"{self.satellites:02d},{self.hdop},{self.altitude},M,46.9,M,,"
            )
        return sentence(body, **kw)

    def rmc(self, **kw) -> bytes:
        if self.quality == 0:
            return sentence(f"{self.talker}RMC,123519.00,V,,,,,,,230394,,,N", **kw)
        lat, ns = ddmm(self.latitude, True)
        lon, ew = ddmm(self.longitude, False)
        return sentence(
            f"{self.talker}RMC,123519.00,A,{lat},{ns},{lon},{ew},{self.knots},"
            f"{self.course},230394,003.1,W,A",
            **kw,
        )

    def epoch(self) -> bytes:
        """One second of output, as a typical receiver sends it."""
        gsa = sentence(f"{self.talker}GSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1")
        return self.gga() + gsa + self.rmc()
