"""The MMP: the admin command line, the same on the local console, over SSH and with ``-c``."""
