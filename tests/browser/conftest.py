"""Fixtures for the browser test of the built book (`make test-browser`).

A local HTTP server serves ``_build/html`` on a free 127.0.0.1 port and one
Debian Chromium (``/usr/bin/chromium``, driven by Playwright's sync API) is
shared by the whole session.  Every request to another host is aborted and
recorded, except the CDN hosts that ipywidgets' static embedding uses.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from book_site import CHROMIUM, CHROMIUM_ARGS, HTML_DIR, LOCAL_HOSTS, is_tolerated


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


@pytest.fixture(scope="session")
def server():
    if not (HTML_DIR / "index.html").exists():
        pytest.fail(f"{HTML_DIR} has no index.html: run `make book` first")
    handler = functools.partial(_QuietHandler, directory=str(HTML_DIR))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def blocked_requests():
    """Every non-tolerated outside request of the session (url, page)."""
    return []


@pytest.fixture(scope="session")
def pass_clock():
    """Monotonic time at which the first page test started."""
    return time.monotonic()


@pytest.fixture()
def page(browser, blocked_requests, pass_clock, request):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, service_workers="block"
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.blocked = []  # outside requests made by this page
    page.local_errors = []  # local responses with status >= 400
    page.console_errors = []  # uncaught exceptions and console errors of this page

    def route(route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.hostname in LOCAL_HOSTS or parts.scheme in ("data", "blob", "about"):
            route.continue_()
            return
        if not is_tolerated(url):
            page.blocked.append(url)
            blocked_requests.append((url, request.node.name))
        # Tolerated CDN or not, nothing leaves the machine.
        route.abort()

    def on_response(response):
        if urlsplit(response.url).hostname in LOCAL_HOSTS and response.status >= 400:
            page.local_errors.append(f"{response.status} {response.url}")

    def on_console(message):
        # A request to a tolerated CDN is aborted above, and the browser reports the failed
        # load as a console error located at that URL: the abort's doing, not the page's.
        url = (message.location or {}).get("url", "")
        aborted_cdn = bool(url) and urlsplit(url).hostname not in LOCAL_HOSTS and is_tolerated(url)
        if message.type == "error" and not aborted_cdn:
            page.console_errors.append(f"console error: {message.text}")

    context.route("**/*", route)
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: page.console_errors.append(f"page error: {exc}"))
    try:
        yield page
    finally:
        context.close()
