"""Read-only facts about the host that ``dns`` and ``ntp status`` show."""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass, field
from pathlib import Path

RESOLV_CONF = Path("/etc/resolv.conf")

# adjtimex(2) return values: TIME_ERROR means the kernel clock is not synchronised.
_TIME_ERROR = 5
_TIMEX_SIZE = 512  # larger than struct timex on every Linux ABI; modes=0 only reads


@dataclass(frozen=True)
class HostResolver:
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)


def host_resolver(path: Path = RESOLV_CONF) -> HostResolver:
    """Name servers and search domains of the host's resolver (``/etc/resolv.conf``)."""
    resolver = HostResolver()
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return resolver
    for line in lines:
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            resolver.nameservers.append(words[1])
        elif words and words[0] in ("search", "domain"):
            resolver.search[:] = words[1:]
    return resolver


def clock_synchronised() -> bool | None:
    """Whether the kernel clock is synchronised (what NTP daemons report through
    adjtimex); None when that cannot be asked."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        buf = ctypes.create_string_buffer(_TIMEX_SIZE)  # zeroed: modes = 0, read only
        state = int(libc.adjtimex(buf))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR
