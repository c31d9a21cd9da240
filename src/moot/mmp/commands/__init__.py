"""MMP command families; importing this package registers them all."""

from moot.mmp.commands import (  # noqa: F401
    backup,
    callbridge,
    mmp,
    network,
    pki,
    reset,
    scheduler,
    syslog,
    system,
    turn,
    user,
    webadmin,
    webbridge,
)
