"""The "Catena fleets" dashboard in a real browser, inside a real ``airflow standalone``.

Headless Debian chromium driven by Playwright: log in to Airflow, open the page from the navigation
bar, see the seeded fleets and funnel (light and dark), follow a link to a DAG run. Screenshots go to
``test-artifacts/`` (look at them: they are the readability check).
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from catena_airflow.inbox import InboxStore
from devstack.processes import free_port
from devstack.rest import fetch_token
from devstack.standalone import ADMIN_USER, AirflowStandalone, CatenaConnection, StandaloneSettings
from tests.unit.ui.seeding import SECRETS, SeededInbox, seed_dashboard_inbox

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
# The real operations DAG (with its inbox watchers): its runs are the alerts' handling runs.
OPERATIONS_DAG_ID = "catena_fleet_operations"
E2E_DAG_ID = "catena_dashboard_e2e"
# A DAG of the test's own stands in for the onboarding DAG: the dashboard only links to its runs,
# and this keeps the test independent of Catena (no sandbox) and light on a shared 2-core machine.
E2E_DAG = textwrap.dedent(
    f'''
    from datetime import datetime

    from airflow.sdk import dag, task


    @dag(dag_id="{E2E_DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def catena_dashboard_e2e():
        @task
        def onboard():
            return "ok"

        onboard()


    catena_dashboard_e2e()
    '''
)
TIMEOUT_MS = 60_000
# A shared 2-core machine running other engineers' Airflow stacks: give the UI time, not a deadline.
EXPECT_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run scripts/ci-deps.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> Iterator[AirflowStandalone]:
    home = tmp_path_factory.mktemp("dashboard-airflow")
    dags = home / "dags"
    dags.mkdir()
    (dags / f"{E2E_DAG_ID}.py").write_text(E2E_DAG)
    shutil.copy(REPO_ROOT / "dags" / f"{OPERATIONS_DAG_ID}.py", dags)
    settings = StandaloneSettings(
        airflow_home=home,
        # Unreachable on purpose: only the operations DAG calls Catena, and its runs' outcome does not matter here.
        catena=CatenaConnection.for_sandbox("http://127.0.0.1:9"),
        api_port=free_port(),
        dags_folder=dags,
    )
    service = AirflowStandalone(settings)
    service.start()
    try:
        service.wait_until_ready(dag_ids=[E2E_DAG_ID, OPERATIONS_DAG_ID], timeout=300)
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def seeded(standalone) -> Iterator[SeededInbox]:
    """The known fleets, in the inbox the api-server reads, and a real run of the DAG they link to."""
    store = InboxStore(standalone.settings.resolved_inbox_url)
    store.migrate()
    try:
        # Webhooks go through the api-server's real receiver, signed; invitations as the DAG registers them.
        seeded = seed_dashboard_inbox(store, dag_id=E2E_DAG_ID, receiver_url=standalone.settings.receiver_url)
    finally:
        store.dispose()
    token = fetch_token(standalone.base_url, ADMIN_USER, standalone.settings.admin_password)
    response = requests.post(
        f"{standalone.base_url}/api/v2/dags/{E2E_DAG_ID}/dagRuns",
        json={"dag_run_id": seeded.connected.run_id, "logical_date": None},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    # A run of the operations DAG queued after the operational webhooks arrived: the one handling them
    # (its timetable's first run may have started before them; the watcher's runs wait behind it).
    response = requests.post(
        f"{standalone.base_url}/api/v2/dags/{OPERATIONS_DAG_ID}/dagRuns",
        json={"dag_run_id": "manual__dashboard_e2e", "logical_date": None},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return seeded


@pytest.fixture
def browser_context(chromium, tmp_path) -> Iterator:
    from playwright.sync_api import expect, sync_playwright

    profile = tmp_path / "chromium-profile"
    profile.mkdir()  # empty user-data-dir: no state from any earlier run
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
            color_scheme="light",
        )
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def _screenshot(page, name: str, *, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def _log_in(page, standalone: AirflowStandalone) -> None:
    page.goto(f"{standalone.base_url}/")
    page.wait_for_url(re.compile(r".*/auth/login.*"))
    page.locator('input[name="username"]').fill(ADMIN_USER)
    page.locator('input[name="password"]').fill(standalone.settings.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_dashboard_in_the_airflow_ui(browser_context, standalone, seeded):
    from playwright.sync_api import expect

    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    _log_in(page, standalone)

    # Open the page from Airflow's navigation bar; Airflow shows it in an iframe at /plugin/catena-fleets.
    page.locator('a[href$="plugin/catena-fleets"]').first.click()
    page.wait_for_url(re.compile(r".*/plugin/catena-fleets$"))
    frame = page.frame_locator('iframe[title="Catena fleets"]')

    fleet_rows = frame.locator("tr.fleet-row")
    expect(fleet_rows).to_have_count(6)
    for fleet in seeded.all:
        expect(frame.locator(f'tr[data-invitation="{fleet.invitation_id}"]')).to_contain_text(fleet.fleet_ref)
    expect(frame.locator('[data-stage="invited"] .funnel-count')).to_have_text("6")
    expect(frame.locator('[data-stage="viewed"] .funnel-count')).to_have_text("4")
    expect(frame.locator('[data-stage="connected"] .funnel-count')).to_have_text("2")
    # Stuck fleets are highlighted in the table and listed on their own.
    expect(frame.locator("tr.fleet-row.stuck")).to_have_count(2)
    expect(frame.locator(f'tr.stuck[data-invitation="{seeded.stuck_viewed.invitation_id}"]')).to_be_visible()
    expect(frame.locator("#stuck-table tr")).to_have_count(2)
    expect(frame.locator("tr.alert-row")).to_have_count(2)
    expect(frame.locator(f'tr[data-invitation="{seeded.declined.invitation_id}"]')).to_contain_text(
        "Already using another provider"
    )
    expect(frame.locator("#webhooks")).to_contain_text("Signature failures")
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")
    _screenshot(page, "dashboard-light.png")

    html = frame.locator("html").inner_html()
    for secret in SECRETS:
        assert secret not in html

    # Server-side filtering from the page: search narrows the table.
    frame.locator("#search").fill("delta")
    expect(fleet_rows).to_have_count(1)
    frame.locator("#search").fill("")
    expect(fleet_rows).to_have_count(6)

    # The magic link can be copied (to resend it) from inside Airflow's sandboxed iframe.
    copy = frame.locator(f'tr[data-invitation="{seeded.fresh.invitation_id}"] button.copy-link')
    copy.click()
    expect(copy).to_have_text("Copied")

    # Dark mode follows the system preference (Airflow's default theme is "system").
    page.emulate_media(color_scheme="dark")
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    expect(fleet_rows).to_have_count(6)
    _screenshot(page, "dashboard-dark.png")
    page.emulate_media(color_scheme="light")
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")

    # A user who picked dark in Airflow's own theme switch gets a dark dashboard on a light system.
    page.evaluate("localStorage.setItem('theme', 'dark')")
    page.reload()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    page.evaluate("localStorage.setItem('theme', 'system')")
    page.reload()
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")
    expect(fleet_rows).to_have_count(6)

    # Follow the onboarding run link: the Airflow UI around the iframe navigates to the run.
    run_id = seeded.connected.run_id
    frame.locator(f'tr[data-invitation="{seeded.connected.invitation_id}"] a.run-link').click()
    page.wait_for_url(re.compile(rf".*/dags/{E2E_DAG_ID}/runs/{re.escape(run_id)}.*"))
    expect(page.get_by_text(run_id).first).to_be_visible()
    _screenshot(page, "dag-run-from-dashboard.png")


def test_dashboard_page_on_its_own(browser_context, standalone, seeded):
    """The page outside the Airflow UI (its own tab), whole, in both colour schemes."""
    from playwright.sync_api import expect

    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    _log_in(page, standalone)
    page.goto(f"{standalone.base_url}/catena/ui")
    expect(page.locator("tr.fleet-row")).to_have_count(6)
    expect(page.locator("tr.alert-row")).to_have_count(2)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        expect(page.locator("html")).to_have_attribute("data-theme", scheme)
        _screenshot(page, f"dashboard-page-{scheme}.png", full_page=True)
    # Outside the iframe the run link is a plain link to the Airflow UI.
    link = page.locator(f'tr[data-invitation="{seeded.declined.invitation_id}"] a.run-link')
    assert link.get_attribute("href") == f"/dags/{E2E_DAG_ID}/runs/{seeded.declined.run_id}"

    # The session ends while the page is open: its next refresh gets 401 and asks to log in again.
    browser_context.clear_cookies()
    expect(page.locator("#login-required")).to_be_visible()
    expect(page.locator("#login-link")).to_have_attribute("href", "/auth/login?next=%2Fcatena%2Fui")
    page.locator("#login-link").click()
    page.wait_for_url(re.compile(r".*/auth/login.*"))


def test_alerts_link_their_handling_run(browser_context, standalone, seeded):
    """Each alert links the first operations run after its webhook arrived, with the run's state."""
    from playwright.sync_api import expect

    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    _log_in(page, standalone)
    page.goto(f"{standalone.base_url}/catena/ui")
    stale = page.locator("tr.alert-row", has_text="stale connection")
    expect(stale.locator("a.run-link")).to_have_text(OPERATIONS_DAG_ID)
    href = stale.locator("a.run-link").get_attribute("href")
    assert href is not None and href.startswith(f"/dags/{OPERATIONS_DAG_ID}/runs/")
    _screenshot(page, "dashboard-alert-handling-run.png")


def test_dashboard_needs_an_airflow_login(browser_context, standalone, seeded):
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    page.goto(f"{standalone.base_url}/catena/ui")
    page.wait_for_url(re.compile(r".*/auth/login.*"))
    assert "Catena fleets" not in page.content()
    api = requests.get(f"{standalone.base_url}/catena/api/fleets", timeout=30)
    assert api.status_code == 401
    assert seeded.connected.fleet_ref not in api.text
