"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``), driven by
Selenium, against the console served in a thread of its own.

Nothing here downloads a browser or a driver: both paths are given to Selenium and
Selenium Manager is told to stay offline (``SE_OFFLINE``). Without them the tests fail
(``make test`` installs them on Debian); they never skip. One browser serves the whole
session; each test gets a fresh cookie jar and its own server, schema and topics.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

from services.api.server import api_server
from services.config import Settings
from services.store.pool import create_pool
from tests.integration.conftest import ingest  # noqa: F401  (the fixture, for these tests)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Flags for a quick, quiet, offline headless browser (the machine has no network).
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--window-size=1280,900",
)


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory, downloads: Path) -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: install Debian's chromium and "
                    "chromium-driver (`make test` does, as root)", pytrace=False)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never a network request
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options,
                              service=Service(executable_path=str(CHROMEDRIVER)))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The app (API and console) served by uvicorn on its own event loop, in a thread, with
    a pool of its own: Selenium's calls block the test's loop, so the server must not share
    it. Yields the base URL."""
    started = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, object] = {}

    async def serve() -> None:
        pool = await create_pool(settings.database_dsn(), max_size=4)
        try:
            server = api_server(settings, pool)
            holder["server"] = server
            started.set()
            await server.serve()
        finally:
            await pool.close()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:  # handed to the test
            failure.append(error)
            started.set()

    thread = threading.Thread(target=run, name="console-server", daemon=True)
    thread.start()
    started.wait(30)
    base = f"http://{settings.http_host}:{settings.http_port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            for _ in range(300):  # up to 15 s
                if failure:
                    raise failure[0]
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    threading.Event().wait(0.05)
            else:
                raise AssertionError("the console did not come up")
        yield base
    finally:
        server = holder.get("server")
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]
        thread.join(30)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where a test saves a screenshot of each page it visits (artifacts, not committed)."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder
