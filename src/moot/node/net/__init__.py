"""The node's network configuration: interfaces a-d (link, IPv4, IPv6), DNS forward
zones and NTP servers as the MMP stores them, their validation, and applying them to
host devices (only when the operator has allowed it, see :mod:`moot.node.net.apply`)."""
