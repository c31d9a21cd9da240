"""The one error type of the PKI helpers."""

from __future__ import annotations


class PkiError(Exception):
    """A key, certificate or CSR problem; the message says what is wrong and what to do."""
