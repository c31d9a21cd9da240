"""TURN server (RFC 8656) with its STUN codec, credentials, allocations and peer policy."""
