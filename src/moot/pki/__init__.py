"""Keys, CSRs, self-signed certificates, inspection and chain checks (``cryptography``).

The public API other parts of Moot call::

    check_pair(store, key_name, crt_name, bundle_name)   # before `webadmin certs` etc.
    server_ssl_context(key, crt, bundle)                 # a TLS 1.2+ server context
    make_selfsigned(key_path, crt_path, common_name, sans, key_type)
"""

from moot.pki.errors import PkiError
from moot.pki.keys import KEY_TYPES, generate_key, write_private_key
from moot.pki.pair import check_bundle, check_pair
from moot.pki.selfsigned import make_selfsigned
from moot.pki.tls import server_ssl_context

__all__ = [
    "KEY_TYPES",
    "PkiError",
    "check_bundle",
    "check_pair",
    "generate_key",
    "make_selfsigned",
    "server_ssl_context",
    "write_private_key",
]
