# Fixtures shared by the workflow tests:
from tests.workflows.enginekit import test_blocks  # noqa: F401
from tests.workflows.httpserver import closed_port, http_server, https_server  # noqa: F401
