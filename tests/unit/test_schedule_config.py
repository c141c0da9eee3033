"""`[[schedules]]` and `[location]` mistakes are one line each from `edge-gateway check-config`."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main

RELAY = '[[relays]]\nname = "pump"\nkind = "gpio"\npin = 17\n'


@pytest.mark.parametrize(
    "body, line",
    [
        (
            '[[schedules]]\nname = "s"\ncron = "0 25 * * *"\nrelay = "pump"\n',
            "schedules[s].cron: cron '0 25 * * *': [0 25 * * *] is not acceptable, out of range",
        ),
        (
            "[location]\nlatitude = 91\nlongitude = 13.4\n",
            "location.latitude: Input should be less than or equal to 90 (got 91)",
        ),
        (
            '[[schedules]]\nname = "s"\ncron = "0 6 * * *"\nrelay = "pumpp"\n',
            "(top level): schedule 's': relay 'pumpp' is not configured",
        ),
        (
            '[[schedules]]\nname = "s"\non = "sunset"\noff = "23:00"\nrelay = "pump"\n',
            "(top level): schedule 's': sunrise/sunset needs [location] latitude and longitude",
        ),
        (
            '[location]\ntimezone = "Europe/Berlim"\n',
            "location.timezone: timezone 'Europe/Berlim' is not a known zone name (e.g. 'Europe/Berlin')",
        ),
        (
            '[[schedules]]\nname = "s"\nat = "7:75"\npublish = "x/y"\n',
            "schedules[s].at: '7:75' is not a time of day (00:00 to 23:59)",
        ),
    ],
)
def test_one_line_per_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, line: str
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(RELAY + body)
    assert main(["check-config", str(path)]) != 0
    assert capsys.readouterr().err.splitlines() == [f"{path}: {line}", f"{path}: 1 error(s)"]


def test_a_good_schedule_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        RELAY + '[location]\nlatitude = 52.5\nlongitude = 13.4\ntimezone = "Europe/Berlin"\n'
        '[[schedules]]\nname = "s"\non = "sunset-00:30"\noff = "06:00"\nrelay = "pump"\n'
    )
    assert main(["check-config", str(path)]) == 0
