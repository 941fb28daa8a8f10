import pytest
from playwright.sync_api import Page, expect
from portal.models import User, Workspace
from tests.e2e.conftest import log_in
from tests.workflows.test_views import make_run, workflow
pytestmark = pytest.mark.e2e

def test_shot(page: Page, live_server, demo):
    ws = Workspace.objects.get(slug="demo")
    grace = User.objects.get(email="grace@example.com")
    run = make_run(workflow(ws, "slow-call"), status="PAUSED", initiator=grace)
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/runs/")
    page.screenshot(path="/tmp/shot-runs-before.png")
    page.get_by_role("link", name=f"Cancel run {run.pk}").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel run").click()
    expect(page.get_by_text("canceled.")).to_be_visible()
    page.screenshot(path="/tmp/shot-runs-after.png")
