"""The web console in a real browser: headless Chromium (Debian's package) under Playwright.

Two windows, a client's and an admin's, as a newcomer would open them: a ticket created in
one shows up live in the other (toast, unread badge, feed) without a reload, and the
console's own reconnect resumes after a dropped connection without losing a notification.
Screenshots go to ``test-artifacts/console/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.devmode import DEMO_PASSWORDS, RunningDevMode, start_devmode

try:
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover - reported by the browser fixture
    HAVE_PLAYWRIGHT = False

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def devmode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevMode]:
    running = start_devmode(tmp_path_factory.mktemp("console"), name="devmode-console")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = None
    if not HAVE_PLAYWRIGHT:
        missing = "the playwright package is not installed"
    elif not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests cannot run: {missing}", pytrace=False)
        pytest.skip(missing)
    SHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def console_as(browser: Browser, devmode: RunningDevMode, username: str) -> Page:
    """A window of its own, signed in with the one-click demo button, live."""
    context = browser.new_context(viewport={"width": 1280, "height": 760}, timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(devmode.url + "/")
    page.click(f"button[data-username={username}]")
    expect(page.locator("#conn-state")).to_have_text("connected", timeout=WAIT_MS)
    # A reload would drop this marker: the tests check that everything arrives without one.
    page.evaluate("window.__sameDocument = true")
    page.evaluate(
        "window.__states = [];"
        "window.consoleLive.addEventListener('state', (e) => window.__states.push(e.detail.state))"
    )
    page.__dict__["page_errors"] = errors
    return page


def no_reload_and_no_errors(page: Page) -> None:
    assert page.evaluate("window.__sameDocument") is True
    assert page.__dict__["page_errors"] == []


def feed_items(page: Page, notification_type: str, text: str) -> Locator:
    """The feed's notifications of one type that mention ``text`` (earlier tests' stay)."""
    return page.locator(f"#feed li[data-type={notification_type}]").filter(has_text=text)


def feed_seqs(page: Page) -> list[int]:
    items: list[Any] = page.eval_on_selector_all(
        "#feed li", "nodes => nodes.map(n => Number(n.dataset.seq))"
    )
    return sorted(int(item) for item in items)


def test_a_ticket_flows_between_a_client_and_an_admin_window(
    browser: Browser, devmode: RunningDevMode
) -> None:
    carol = console_as(browser, devmode, "carol")
    admin = console_as(browser, devmode, "admin")
    expect(admin.locator("#unread-badge")).to_be_hidden()

    carol.fill("#create-form input[name=title]", "Printer on fire")
    carol.fill("#create-form textarea[name=description]", "Smoke from tray 2")
    carol.select_option("#create-form select[name=priority]", "CRITICAL")
    carol.select_option("#create-form select[name=category]", "INCIDENT")
    carol.click("#create-form button[type=submit]")

    toast = admin.locator(".toast[data-type=ticket_created]")
    expect(toast).to_contain_text("New Critical priority ticket created: Printer on fire")
    expect(admin.locator("#unread-badge")).to_have_text("1")
    expect(admin.locator("#feed li.unread")).to_have_count(1)
    row = admin.locator("#ticket-rows tr").filter(has_text="Printer on fire")
    expect(row).to_contain_text("New")
    admin.screenshot(path=str(SHOTS / "admin-toast.png"))

    row.locator("button[data-action=open]").click()
    opened = carol.locator("#feed li[data-type=ticket_opened]")
    expect(opened).to_contain_text(
        "Your ticket 'Printer on fire' has been opened and acknowledged by admin"
    )
    expect(carol.locator(".toast[data-type=ticket_opened]")).to_be_visible()
    expect(carol.locator("#ticket-rows tr").filter(has_text="Printer on fire")).to_contain_text(
        "Opened"
    )
    expect(carol.locator("#unread-badge")).to_have_text("1")
    carol.screenshot(path=str(SHOTS / "client-opened.png"))

    # Mark one read (a click), then all: the badge follows, and so does the server.
    admin.locator("#feed li.unread").first.click()
    expect(admin.locator("#unread-badge")).to_be_hidden()
    carol.click("#read-all")
    expect(carol.locator("#unread-badge")).to_be_hidden()
    for name, page in (("admin", admin), ("carol", carol)):
        assert devmode.login_as(name).call("GET", "/api/notifications/unread-count/") == {
            "unread": 0
        }
        no_reload_and_no_errors(page)


def test_the_console_resumes_after_its_connection_drops(
    browser: Browser, devmode: RunningDevMode
) -> None:
    carol = console_as(browser, devmode, "carol")
    admin_api = devmode.login_as("admin")
    alice_api = devmode.login_as("alice")
    carol_api = devmode.login_as("carol")
    ticket = carol_api.create_ticket(
        carol_api.call("GET", "/api/projects/")[0]["id"], title="Checkout times out"
    )
    admin_api.open(ticket["id"])
    opened = carol.locator("#feed li[data-type=ticket_opened]").filter(
        has_text="Checkout times out"
    )
    expect(opened).to_have_count(1)
    before = feed_seqs(carol)

    # 1. The server drops the socket (as a restart does): the page reconnects by itself.
    carol.click("#drop")
    carol.wait_for_function("window.__states.includes('reconnecting')")
    expect(carol.locator("#conn-state")).to_have_text("connected")

    # 2. The network goes away; a notification is written meanwhile; it comes back.
    carol.context.set_offline(True)
    expect(carol.locator("#conn-state")).to_have_text("offline")
    assert alice_api.user is not None
    admin_api.assign(ticket["id"], [alice_api.user["id"]])
    alice_api.start(ticket["id"])  # -> work_started for carol, while she is away
    carol.screenshot(path=str(SHOTS / "client-offline.png"))
    carol.context.set_offline(False)
    started = "Work has started on your ticket: Checkout times out"
    expect(feed_items(carol, "work_started", started)).to_have_count(1)
    expect(carol.locator("#conn-state")).to_have_text("connected")

    # 3. Live again: the next one arrives as usual; nothing missing, nothing twice.
    alice_api.finish(ticket["id"])
    expect(feed_items(carol, "work_finished", "Checkout times out")).to_have_count(1)
    seqs = feed_seqs(carol)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert seqs[-2:] == [before[-1] + 1, before[-1] + 2]
    expect(feed_items(carol, "work_started", started)).to_have_count(1)  # not twice
    carol.screenshot(path=str(SHOTS / "client-resumed.png"))
    no_reload_and_no_errors(carol)


def test_every_role_acts_from_its_own_window(browser: Browser, devmode: RunningDevMode) -> None:
    carol = console_as(browser, devmode, "carol")
    admin = console_as(browser, devmode, "admin")
    alice = console_as(browser, devmode, "alice")

    carol.fill("#create-form input[name=title]", "Login page broken")
    carol.fill("#create-form textarea[name=description]", "The form does not submit")
    carol.click("#create-form button[type=submit]")
    admin_row = admin.locator("#ticket-rows tr").filter(has_text="Login page broken")
    admin_row.locator("button[data-action=open]").click()
    expect(admin_row).to_contain_text("Opened")

    # Assign: the developer picker and the due date.
    admin_row.locator("button[data-action=assign]").click()
    dialog = admin.locator("#assign-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Alice Developer (alice)").check()
    dialog.locator("input[name=due]").fill("2025-12-24T18:00")
    dialog.locator("#assign-submit").click()
    expect(dialog).to_be_hidden()
    expect(admin_row).to_contain_text("Alice Developer")
    ticket_id = int(admin_row.get_attribute("data-ticket-id") or 0)
    ticket = devmode.login_as("admin").get_ticket(ticket_id)
    assert ticket["resolution_due_at"] == "2025-12-24T18:00:00Z"

    expect(alice.locator(".toast[data-type=ticket_assigned]")).to_contain_text(
        "You have been assigned to ticket: Login page broken"
    )
    alice_row = alice.locator("#ticket-rows tr").filter(has_text="Login page broken")
    alice_row.locator("button[data-action=start]").click()
    expect(feed_items(carol, "work_started", "Login page broken")).to_have_count(1)
    alice_row.locator("button[data-action=finish]").click()
    expect(feed_items(carol, "work_finished", "Login page broken")).to_have_count(1)

    # Reject with a comment, then approve the second attempt.
    carol_row = carol.locator("#ticket-rows tr").filter(has_text="Login page broken")
    carol_row.locator("button[data-action=reject]").click()
    carol.locator("#reject-form textarea[name=comment]").fill("Still broken on mobile")
    carol.locator("#reject-submit").click()
    rejection = (
        "Ticket 'Login page broken' has been rejected by client. Reason: Still broken on mobile"
    )
    expect(feed_items(admin, "ticket_rejected", rejection)).to_have_count(1)
    expect(feed_items(alice, "ticket_rejected", rejection)).to_have_count(1)
    alice_row.locator("button[data-action=finish]").click()
    expect(feed_items(carol, "work_finished", "Login page broken")).to_have_count(2)
    carol_row.locator("button[data-action=approve]").click()
    approval = "Ticket 'Login page broken' has been approved and closed by client"
    expect(feed_items(admin, "ticket_approved", approval)).to_have_count(1)
    expect(feed_items(alice, "ticket_approved", approval)).to_have_count(1)
    expect(carol_row).to_contain_text("Closed")
    expect(carol_row.locator("button")).to_have_count(0)
    admin.screenshot(path=str(SHOTS / "admin-lifecycle.png"))
    for page in (carol, admin, alice):
        no_reload_and_no_errors(page)


def test_api_errors_are_shown_with_their_code(browser: Browser, devmode: RunningDevMode) -> None:
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(devmode.url + "/")
    page.fill("#login-form input[name=username]", "carol")
    page.fill("#login-form input[name=password]", DEMO_PASSWORDS["carol"] + "-wrong")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error-code")).to_have_text("invalid_credentials")
    assert page.locator("#error-text").inner_text().strip() != ""
    expect(page.locator("#login-view")).to_be_visible()
    page.screenshot(path=str(SHOTS / "login-error.png"))
