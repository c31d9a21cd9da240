"""TLS server contexts from a key, a certificate and a bundle."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from moot.pki.errors import PkiError
from moot.pki.keys import private_key_pem
from moot.pki.pair import load_pair


def server_ssl_context(key: Path, crt: Path, bundle: Path | None) -> ssl.SSLContext:
    """A TLS 1.2+ server context presenting ``crt`` followed by ``bundle``.

    PEM and DER inputs both work: the pair is checked and re-encoded as PEM for OpenSSL.
    """
    pair = load_pair(key, crt, bundle)
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in pair.chain)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl loads certificates only from files: a private directory that lives for this call.
    with tempfile.TemporaryDirectory(prefix="moot-tls-") as tmp:
        key_file = Path(tmp) / "key.pem"
        chain_file = Path(tmp) / "chain.pem"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private_key_pem(pair.key))
        chain_file.write_bytes(chain_pem)
        try:
            context.load_cert_chain(certfile=str(chain_file), keyfile=str(key_file))
        except ssl.SSLError as exc:
            raise PkiError(
                f"{crt.name} and {key.name} cannot be used for TLS ({exc.reason or exc}); "
                "use an RSA or EC key"
            ) from None
    return context
