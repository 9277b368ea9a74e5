"""What DT application and thematic module developers import."""

from dte.sdk.component import component
from dte.sdk.scaffold import init_app
from dte.sdk.testing import check_app
from dte.sdk.workflow import Workflow, save

__all__ = ["Workflow", "check_app", "component", "init_app", "save"]
