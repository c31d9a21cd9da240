"""MMP command families; importing this package registers them all."""

from moot.mmp.commands import (  # noqa: F401
    backup,
    callbridge,
    network,
    pki,
    syslog,
    system,
    user,
    webadmin,
)
