"""The exit codes of `edge-gateway run` and `edge-gateway check-config` (one scheme for both; the
README's "Exit codes" table is this one). `pub`, `sub` and `passwd` keep the codes of the Mosquitto
tools they imitate."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # check-config: the config can run (warnings may be printed); run: stopped cleanly
    CONFIG = 1  # the config, or a file it names, is wrong: every problem printed as FILE: key: ...
    USAGE = 2  # the command line is wrong (argparse's own code)
    ENVIRONMENT = 3  # run: the config is right but this machine refused it at start-up (a port in
    #                  use, a state directory that cannot be written, no working GPIO library)
    INTERNAL = 70  # a bug: the traceback is printed (sysexits.h EX_SOFTWARE); please report it
