"""DTE - an open-source Digital Twin Engine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dte")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
