"""Month-end in the console, in a real headless Chromium, against real PostgreSQL and Tansu:
billing events go through Kafka and the ingest; everything after goes through the console's
pages only (the CLI is asked, as a subprocess, what it reports, to compare).

A screenshot of each page visited is saved under the test's tmp dir (``screenshots/``).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from events.journal_rules import JournalRunRequest
from services.commands.api_keys import create_api_key
from services.config import Settings
from services.console.formatting import amount
from services.journal.run import create_journal_run
from tests.browser.conftest import served
from tests.helpers import process_env, produce, wait_until
from tests.integration.billing import billing_event, txn
from tests.integration.conftest import IngestRunner
from tests.integration.db import scalar
from tests.integration.ledger_setup import set_up

APRIL = date(2024, 4, 10)
EVIL = "<script>window.pwned=1</script>"
WAIT = 10  # seconds any page or element may take


class Browser:
    """The console as a person sees it: pages by URL, clicks, texts, a screenshot each."""

    def __init__(self, driver: WebDriver, base: str, screenshots: Path) -> None:
        self.driver = driver
        self.base = base
        self.screenshots = screenshots
        self.shots = 0
        driver.delete_all_cookies()
        driver.set_window_size(1280, 900)

    def shot(self, name: str) -> None:
        self.shots += 1
        self.driver.save_screenshot(str(self.screenshots / f"{self.shots:02d}-{name}.png"))

    def open(self, path: str, name: str) -> None:
        self.driver.get(self.base + path)
        self.shot(name)

    def click(self, selector: str, name: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, selector).click()
        WebDriverWait(self.driver, WAIT).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        self.shot(name)

    def text(self, selector: str) -> str:
        return str(self.driver.find_element(By.CSS_SELECTOR, selector).text)

    def has(self, selector: str) -> bool:
        return bool(self.driver.find_elements(By.CSS_SELECTOR, selector))

    @property
    def path(self) -> str:
        return str(self.driver.current_url).removeprefix(self.base)

    def sign_in(self, token: str) -> None:
        self.open("/console/", "sign-in-form")
        assert self.path.startswith("/console/login?next=")
        self.driver.find_element(By.ID, "token").send_keys(token)
        self.click("#sign-in", "signed-in")
        assert self.path == "/console/", self.path

    def session_cookie(self) -> str:
        cookie = self.driver.get_cookie("ledger_console")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        return str(cookie["value"])

    def labelled_inputs(self) -> bool:
        """Every visible form control has a label (keyboard and screen-reader use)."""
        return bool(self.driver.execute_script(
            "return [...document.querySelectorAll('input:not([type=hidden]), select')]"
            ".every(e => e.labels && e.labels.length > 0)"))

    def fits(self) -> bool:
        """No page-wide horizontal scrolling (wide tables scroll in their own box)."""
        return bool(self.driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"))


def hand_made_post(base: str, cookie: str, path: str, data: dict[str, str]) -> httpx.Response:
    """A POST written by hand with a browser's session cookie (not by a page's form)."""
    with httpx.Client(base_url=base) as client:
        client.cookies.set("ledger_console", cookie, path="/console")
        return client.post(path, data=data, headers={"Origin": base})


def cli(settings: Settings, *args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "services.cli", *args, "--json"],
                          env=process_env(settings), capture_output=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)


def comparable_cli(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Entries as the console shows them: type, currency, and each line's account, side and
    amount at the currency's precision."""
    return sorted((e["transaction_type"], e["currency"], tuple(sorted(
        (x["account"], x["side"], amount(x["amount"], e["currency"])) for x in e["lines"])))
        for e in entries)


def comparable_page(driver: WebDriver, sections: str) -> list[tuple[Any, ...]]:
    found = []
    for section in driver.find_elements(By.CSS_SELECTOR, sections):
        lines = []
        for row in section.find_elements(By.CSS_SELECTOR, "tbody tr"):
            account, debit, credit = (c.text for c in row.find_elements(By.TAG_NAME, "td"))
            lines.append((account, "debit", debit) if debit else (account, "credit", credit))
        found.append((section.get_attribute("data-type"), section.get_attribute("data-currency"),
                      tuple(sorted(lines))))
    return sorted(found)


async def month_of_billing(settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner) -> None:
    """Periods, then April's invoices and payments through Kafka, one message for the DLQ."""
    await set_up(pool)
    documents = [
        billing_event([txn("invoice_item", "I-1", APRIL, "100.00"),
                       txn("invoice_item", "I-2", APRIL, "50.25",
                           segments={"region": "NA"})], document="INV-1"),
        billing_event([txn("invoice_item", "I-3", APRIL, "500", currency="JPY")],
                      document="INV-2", currency="JPY"),
        billing_event([txn("invoice_item", "I-4", APRIL, "19.625", debit=EVIL)],
                      document="INV-3"),
        billing_event([txn("invoice_item", "I-5", APRIL, "7.00", status="draft")],
                      document="INV-4"),
        billing_event([txn("external_payment_application", "PA-1", APRIL, "100.00",
                           debit="Unapplied Payments", credit="Accounts Receivable")],
                      document="P-1"),
    ]
    await ingest.feed([json.dumps(d).encode() for d in documents], stored=len(documents))
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing,
                  [b'{"event_type": "<script>window.pwned=2</script>"'])

    async def rejected() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == 1

    await wait_until(rejected, message="the bad message in the DLQ")


async def test_an_operator_closes_april_through_the_console(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner, browser: WebDriver,
    screenshots: Path, downloads: Path,
) -> None:
    await month_of_billing(settings, pool, ingest)
    key = await create_api_key(pool, "controller", "operator")
    with served(settings) as base:
        b = Browser(browser, base, screenshots)
        b.sign_in(key["token"])
        assert b.text("#who-name") == "controller" and b.text("#who-role") == "operator"
        assert b.labelled_inputs()

        # the wizard: categories, default target (April, the current open period), preview
        b.click("#nav-new-run", "wizard")
        assert Select(browser.find_element(By.ID, "period")).first_selected_option \
            .get_attribute("value") == "Apr-2024"
        assert b.labelled_inputs()
        b.click("label[for=cat-billing]", "wizard-billing")
        b.click("label[for=cat-cash]", "wizard-cash")
        b.click("#preview", "preview")
        preview = comparable_page(browser, "section.entry-preview")
        dry_run = cli(settings, "journal-runs", "create", "--types", "billing,cash",
                      "--dry-run")
        assert preview == comparable_cli(dry_run["entries"])
        assert len(preview) == 5  # AR 100.00 + (AR, NA) 50.25, JPY, the evil account, cash
        assert b.text("#preview-transactions") == "5"  # the draft invoice is held
        assert ("invoice_item", "JPY", (("Accounts Receivable", "debit", "500"),
                                        ("Revenue", "credit", "500"))) in preview
        assert ("invoice_item", "USD", ((EVIL, "debit", "19.625"),
                                        ("Revenue", "credit", "19.625"))) in preview

        b.click("#confirm", "run")
        assert b.path == "/console/runs/JR-00000001", b.path
        assert "exactly the entries previewed" in b.text("#flash")
        made = cli(settings, "journal-entries", "list", "--run", "JR-00000001")
        assert comparable_cli(made) == preview
        assert b.text("#run-entry-count") == "5" and b.text("#run-transactions") == "5"

        # an entry: transfer it, then it may not be cancelled, only reversed
        evil_entry = next(e for e in made if any(x["account"] == EVIL for x in e["lines"]))
        b.open(f"/console/entries/{evil_entry['number']}", "entry")
        assert EVIL in b.text("#entry-lines")  # shown as text, never run
        assert browser.execute_script("return window.pwned") is None
        assert b.text("#entry-lines tfoot .total-debit") == "19.625"
        Select(browser.find_element(By.ID, "transfer-to")).select_by_value("yes")
        b.click("#set-transfer", "entry-transferred")
        assert b.text("#transfer-status") == "yes"
        assert "transfer status no -> yes" in b.text("#flash")
        assert not b.has("#cancel-entry")
        browser.find_element(By.ID, "reverse-date").send_keys("2024-04-30")
        b.click("#reverse-entry", "entry-reversed")
        assert f"{evil_entry['number']} reversed by JE-00000006." in b.text("#flash")
        assert b.path == "/console/entries/JE-00000006"
        assert b.text("#entry-lines tfoot .total-credit") == "19.625"
        reversed_ = cli(settings, "journal-entries", "show", evil_entry["number"])
        assert reversed_["status"] == "reversed"

        # the transaction detail of another entry, downloaded
        usd = next(e for e in made if e["currency"] == "USD" and e["segments"] == {}
                   and e["transaction_type"] == "invoice_item"
                   and all(x["account"] != EVIL for x in e["lines"]))
        b.open(f"/console/entries/{usd['number']}", "entry-usd")
        b.click("#download-csv", "entry-usd-download")
        target = downloads / f"{usd['number']}.csv"
        WebDriverWait(browser, WAIT).until(lambda _: target.exists()
                                           and target.stat().st_size > 0)
        with target.open(newline="") as f:
            detail = list(csv.DictReader(f))
        assert [(r["transaction_id"], Decimal(r["amount"])) for r in detail] == [
            ("I-1", Decimal("100.00"))]

        # close April, then reopen it
        b.open("/console/periods", "periods")
        browser.find_element(By.LINK_TEXT, "Apr-2024").click()
        b.shot("period")
        assert b.text("#period-status") == "open"
        # the draft invoice is held; a reversed entry's transaction is pending again
        assert (b.text("[data-count=journaled]"), b.text("[data-count=pending]"),
                b.text("[data-count=held]")) == ("4", "1", "1")
        b.click("#action-close", "period-closed")
        assert b.text("#period-status") == "closed" and "Apr-2024 is now closed." in b.text(
            "#flash")
        b.click("#action-reopen", "period-reopened")
        assert b.text("#period-status") == "open"

        # a form without its one-time token is refused, even with a valid session cookie
        refused = hand_made_post(base, b.session_cookie(), "/console/runs/JR-00000001/cancel",
                                 {})
        assert refused.status_code == 403 and "csrf_invalid" in refused.text
        assert cli(settings, "journal-runs", "show", "JR-00000001")["status"] == "completed"

        # readable at 800 px
        browser.set_window_size(800, 900)
        for path, name in (("/console/", "overview-800"), ("/console/periods", "periods-800"),
                           ("/console/runs/JR-00000001", "run-800")):
            b.open(path, name)
            assert b.fits(), path
        browser.set_window_size(1280, 900)

        # sign out: the session is over
        b.click("#sign-out", "signed-out")
        assert b.path == "/console/login" and "Signed out." in b.text("#flash")
        b.open("/console/runs", "after-sign-out")
        assert b.path.startswith("/console/login?next=/console/runs")


async def test_a_viewer_sees_everything_and_may_do_nothing(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner, browser: WebDriver,
    screenshots: Path,
) -> None:
    await month_of_billing(settings, pool, ingest)
    run = await create_journal_run(pool, JournalRunRequest(types=("billing",),
                                                           period="Apr-2024"))
    key = await create_api_key(pool, "auditor", "viewer")
    with served(settings) as base:
        b = Browser(browser, base, screenshots)
        b.sign_in(key["token"])
        assert b.text("#who-role") == "viewer"
        assert "Nothing left to journal." not in b.text("main")  # the draft is held
        assert b.text("#dlq-count") == "1"
        pages = {
            "overview": "/console/", "periods": "/console/periods", "runs": "/console/runs",
            "run": f"/console/runs/{run['number']}", "entries": "/console/entries",
            "entry": f"/console/entries/{run['journal_entry_numbers'][0]}",
            "dlq": "/console/dlq", "wizard": "/console/runs/new",
        }
        for name, path in pages.items():
            b.open(path, name)
            for action in ("#nav-new-run", "#cancel-run", "#set-transfer", "#cancel-entry",
                           "#reverse-entry", "#replay", "#preview", "[id^=action-]"):
                assert not b.has(action), (name, action)
        browser.find_element(By.LINK_TEXT, "Periods").click()
        browser.find_element(By.LINK_TEXT, "Apr-2024").click()
        b.shot("period")
        assert not b.has("[id^=action-]") and b.has("#waiting")

        # the dead letter's raw body is text, not markup
        b.open("/console/dlq", "dlq")
        browser.find_element(By.CSS_SELECTOR, "#dlq-list tbody a").click()
        b.shot("dlq-message")
        assert b.text("#dlq-code") == "invalid_json"
        assert "<script>window.pwned=2</script>" in b.text("#dlq-raw")
        assert browser.execute_script("return window.pwned") is None
        with_evil = next(e["number"] for e in cli(settings, "journal-entries", "list",
                                                  "--run", run["number"])
                         if any(x["account"] == EVIL for x in e["lines"]))
        b.open(f"/console/entries/{with_evil}", "entry-evil")
        assert EVIL in b.text("#entry-lines")
        try:
            browser.switch_to.alert.dismiss()
            raise AssertionError("a script ran")
        except NoAlertPresentException:
            pass

        # a hand-made POST with the viewer's own cookie and a token of its own session: 403
        browser.get(base + "/console/")
        token = browser.find_element(By.NAME, "csrf_token").get_attribute("value")
        assert token
        refused = hand_made_post(base, b.session_cookie(), "/console/runs", {
            "csrf_token": token, "types": "billing", "target": "period",
            "period": "Apr-2024"})
        assert refused.status_code == 403 and "a viewer may look, not act" in refused.text
        assert cli(settings, "journal-runs", "list") == [run]
