"""Moot's SIP stack (RFC 3261 and friends): messages, SDP, transports, transactions, dialogs."""
