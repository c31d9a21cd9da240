"""Moot: an open-source meeting server."""

__version__ = "0.1.0"
#: The version of the guide whose behaviour Moot follows (MMP ``version`` prints it).
PRODUCT_VERSION = "3.10"
