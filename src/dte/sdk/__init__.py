"""What DT application and thematic module developers import."""

from dte.sdk.scaffold import init_app
from dte.sdk.testing import check_app

__all__ = ["check_app", "init_app"]
