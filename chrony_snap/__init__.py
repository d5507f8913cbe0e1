"""chrony-snap: static, live dashboard of a chrony NTP server's clients."""

__version__ = "0.1.0"
SCHEMA_VERSION = 1
