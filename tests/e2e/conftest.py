"""Browser tests: Playwright driving the system's Chromium against pytest-django's live server.

No browser is downloaded: the tests launch /usr/bin/chromium (Debian's package)
and skip, loudly, where it or the playwright package is missing.
"""

import io
import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs its own event loop in this thread; Django's ORM calls
# made from test code while it is active are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHIPREG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "chipreg-demo"

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - reported by the skip below
    sync_playwright = None


def _skip_reason():
    if sync_playwright is None:
        return "E2E SKIPPED: the playwright package is not installed (pip install playwright==1.65.2)"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"E2E SKIPPED: no Chromium at {CHROMIUM} (apt-get install chromium); browser tests did NOT run"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    if reason is None:
        return
    import warnings

    warnings.warn(reason, stacklevel=1)
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module", autouse=True)
def _restore_catalog_after_flush(django_db_blocker):
    """As tests/conftest.py's, and then close the connection it opened.

    With Playwright's greenlets running, this teardown gets its own database connection,
    which nothing else would close before the test database is dropped.
    """
    yield
    from django.db import connections

    from registry.catalog import load_catalog

    with django_db_blocker.unblock():
        load_catalog()
        connections.close_all()


@pytest.fixture(scope="module")
def browser():
    # Module-scoped: Playwright's sync API is stopped before other test modules run.
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors
    yield page
    context.close()


@pytest.fixture
def demo_site(transactional_db, live_server):
    """The demo world in the live server's database (transactional tests flush it afterwards)."""
    from django.core.management import call_command

    from registry.catalog import load_catalog

    load_catalog()  # a previous transactional test emptied every table, the catalog too
    call_command("load_demo", stdout=io.StringIO())
    return live_server.url


@pytest.fixture
def sign_in(page, demo_site):
    def as_user(username):
        page.goto(f"{demo_site}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_url(f"{demo_site}/")
        return page

    return as_user


@pytest.fixture
def screenshot(page):
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name):
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot
