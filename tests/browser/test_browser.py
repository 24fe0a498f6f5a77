"""`tui-chat web` in a real browser: Debian's Chromium, headless, driven through its chromedriver.

Nothing is downloaded: selenium is given the system's driver, so Selenium Manager never runs.
This tier runs in CI (`.ci/run` installs chromium and chromium-driver when they are missing).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.harness import WebServerProcess, all_gone, wait_until
from tests.fake_openai import FakeOpenAI, Reply, RunningFakeOpenAI

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = (os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
                or "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio")
SLOW_ANSWER = Reply(text="streaming " * 3000, chunks_per_second=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file():
            pytest.fail(f"{path} is missing: apt-get install chromium chromium-driver "
                        "(.ci/run does this)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.add_argument("--window-size=1000,700")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # should Selenium Manager ever run: no downloads
        driver = webdriver.Chrome(options=options,
                                  service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def chrome(browser: WebDriver) -> Iterator[WebDriver]:
    """The browser, one tab, logs emptied; extra tabs are closed afterwards."""
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get_log("performance")
    yield browser
    main, *others = browser.window_handles
    for handle in others:
        browser.switch_to.window(handle)
        browser.close()
    browser.switch_to.window(main)
    browser.get("about:blank")


@pytest.fixture
def fake() -> Iterator[RunningFakeOpenAI]:
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        yield running


@pytest.fixture
def server(fake: RunningFakeOpenAI, tmp_path: Path) -> Iterator[WebServerProcess]:
    with WebServerProcess(fake.url, tmp_path) as running:
        yield running


def open_app(driver: WebDriver, server: WebServerProcess) -> None:
    """Open the printed address and wait until the app drew and the terminal has focus."""
    driver.get(server.url)
    wait_until(lambda: driver.execute_script(
        "return document.body.classList.contains('-first-byte') && "
        "document.activeElement.classList.contains('xterm-helper-textarea')"),
        20, message="the app to draw with the terminal focused")


def type_keys(driver: WebDriver, *keys: str) -> None:
    """Keys to whatever has focus, as a person types: no click first."""
    ActionChains(driver).send_keys(*keys).perform()


def settled_screenshot(driver: WebDriver) -> bytes:
    """A screenshot once the page stopped changing (two in a row alike)."""
    shots = [driver.get_screenshot_as_png()]

    def settled() -> bool:
        shots.append(driver.get_screenshot_as_png())
        return shots[-1] == shots[-2]

    wait_until(settled, 10, 0.05, "the page to settle")
    return shots[-1]


def press_and_wait_for_the_screen(driver: WebDriver, chain: ActionChains) -> None:
    """Press keys, then wait until the page shows their effect. Textual runs a key binding
    (Shift+Enter, Ctrl+J) after the key went round the focused widget, so characters typed
    within the same millisecond can land before the new line."""
    before = settled_screenshot(driver)
    chain.perform()
    wait_until(lambda: driver.get_screenshot_as_png() != before, 10, 0.05, "the key's effect")


def shift_enter(driver: WebDriver) -> None:
    press_and_wait_for_the_screen(
        driver, ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT))


def wait_for_prompt(fake: RunningFakeOpenAI, count: int = 1) -> str:
    requests = wait_until(lambda: fake.fake.chat_requests[count - 1:] or None, 20,
                          message=f"chat request {count}")
    content = requests[0].messages[-1]["content"]
    return content if isinstance(content, str) else json.dumps(content)


def requested_urls(driver: WebDriver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def console_errors(driver: WebDriver) -> list[dict[str, object]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_the_page_opens_clean_and_typing_without_a_click_reaches_the_prompt(
        chrome: WebDriver, server: WebServerProcess, fake: RunningFakeOpenAI) -> None:
    open_app(chrome, server)
    type_keys(chrome, "hello")
    shift_enter(chrome)  # a new line, as in the terminal; Enter sends
    type_keys(chrome, "world", Keys.ENTER)
    assert wait_for_prompt(fake) == "hello\nworld"
    type_keys(chrome, "again")
    press_and_wait_for_the_screen(
        chrome, ActionChains(chrome).key_down(Keys.CONTROL).send_keys("j").key_up(Keys.CONTROL))
    type_keys(chrome, "ctrl j")
    press_and_wait_for_the_screen(  # Alt+Enter: the browser terminal sends ESC CR
        chrome, ActionChains(chrome).key_down(Keys.ALT).send_keys(Keys.ENTER).key_up(Keys.ALT))
    type_keys(chrome, "alt enter", Keys.ENTER)
    assert wait_for_prompt(fake, 2) == "again\nctrl j\nalt enter"

    assert console_errors(chrome) == []
    urls = requested_urls(chrome)
    assert any(url.startswith(f"ws://{server.host}/ws") for url in urls)
    assert any(url.endswith("/favicon.ico") for url in urls)
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme in ("data", "chrome", "about") or parts.netloc == server.host, url
    assert chrome.current_url == f"{server.origin}/"  # the token left the address bar


def test_typing_reaches_the_prompt_when_the_tab_comes_back(
        chrome: WebDriver, server: WebServerProcess, fake: RunningFakeOpenAI) -> None:
    open_app(chrome, server)
    app_tab = chrome.current_window_handle
    chrome.execute_script("document.activeElement.blur()")  # focus left the terminal
    chrome.switch_to.new_window("tab")
    chrome.switch_to.window(app_tab)
    wait_until(lambda: chrome.execute_script(
        "return document.activeElement.classList.contains('xterm-helper-textarea')"),
        10, message="the terminal to get focus back")
    type_keys(chrome, "back again", Keys.ENTER)
    assert wait_for_prompt(fake) == "back again"

    apps = server.app_pids()
    ActionChains(chrome).key_down(Keys.CONTROL).send_keys("q").key_up(Keys.CONTROL).perform()
    message = wait_until(lambda: chrome.execute_script(
        "return document.body.classList.contains('-closed') && "
        "document.getElementById('ended-message').innerText"), 15,
        message="the page to say the app ended")
    assert message == "The app ended."
    assert chrome.find_element("id", "restart").is_displayed()
    wait_until(lambda: all_gone(apps), 10, message="the app to end")


def test_an_answer_streams_and_escape_stops_the_upstream(
        chrome: WebDriver, server: WebServerProcess, fake: RunningFakeOpenAI) -> None:
    fake.fake.script(SLOW_ANSWER)
    open_app(chrome, server)
    type_keys(chrome, "stream please", Keys.ENTER)
    wait_for_prompt(fake)
    request = fake.fake.chat_requests[0]
    wait_until(lambda: len(request.chunks) > 10, 10, message="the answer to start")
    before = chrome.get_screenshot_as_png()
    wait_until(lambda: len(request.chunks) > 40, 10, message="a second of answer")
    after = chrome.get_screenshot_as_png()
    assert before != after  # the answer grew on the page
    type_keys(chrome, Keys.ESCAPE)
    assert request.wait_disconnected_blocking(10), "Esc did not stop the upstream"


def test_a_websocket_from_another_origin_is_refused_and_reaches_nothing(
        chrome: WebDriver, server: WebServerProcess, fake: RunningFakeOpenAI,
        tmp_path: Path) -> None:
    open_app(chrome, server)  # the browser holds the cookie now
    chrome.get("about:blank")
    wait_until(lambda: not server.app_pids(), 10, message="the first tab's app to end")
    page = f"""<!DOCTYPE html><title>attacker</title><script>
      const ws = new WebSocket("ws://{server.host}/ws");
      ws.onopen = () => {{ ws.send(JSON.stringify(["stdin", "pwned\\r"]));
                          document.title = "opened"; }};
      ws.onclose = (event) => {{ document.title = "closed " + event.code; }};
    </script>"""

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    # Same site (127.0.0.1), another origin (port): the Strict cookie is even sent along.
    attacker = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    thread = threading.Thread(target=attacker.serve_forever, daemon=True)
    thread.start()
    try:
        chrome.get(f"http://127.0.0.1:{attacker.server_address[1]}/")
        title = wait_until(lambda: chrome.title if chrome.title.startswith(("closed", "opened"))
                           else None, 10, message="the attacker's socket to settle")
    finally:
        attacker.shutdown()
        attacker.server_close()
    assert title == "closed 1006"
    assert server.app_pids() == set()
    assert fake.fake.requests == []


def test_the_terminal_fits_the_window_and_follows_resizes(
        chrome: WebDriver, server: WebServerProcess) -> None:
    open_app(chrome, server)
    fits = """const r = document.querySelector('.xterm-screen').getBoundingClientRect();
      const d = document.documentElement;
      return [r.width, r.height, r.right <= innerWidth && r.bottom <= innerHeight
              && d.scrollWidth <= innerWidth && d.scrollHeight <= innerHeight];"""
    try:
        for width, height in ((800, 600), (1200, 900), (640, 480)):
            chrome.set_window_size(width, height)
            inner = chrome.execute_script("return [innerWidth, innerHeight]")
            # The terminal fills the window to within one cell, and never overflows it.
            wait_until(lambda inner=inner: (f := chrome.execute_script(fits))[2]
                       and inner[0] - f[0] < 20 and inner[1] - f[1] < 40, 10,
                       message=f"the terminal to fit {width}x{height}")
    finally:
        chrome.set_window_size(1000, 700)


def test_closing_the_tab_or_killing_the_server_leaves_no_app_and_the_tab_says_so(
        chrome: WebDriver, server: WebServerProcess, fake: RunningFakeOpenAI) -> None:
    first_tab = chrome.current_window_handle
    open_app(chrome, server)
    apps = server.app_pids()
    assert len(apps) == 1
    chrome.switch_to.new_window("tab")
    chrome.switch_to.window(first_tab)
    chrome.close()  # the tab closes: its app ends
    chrome.switch_to.window(chrome.window_handles[0])
    wait_until(lambda: all_gone(apps), 15, message="the closed tab's app to end")

    fake.fake.script(SLOW_ANSWER)
    open_app(chrome, server)
    apps = server.app_pids()
    type_keys(chrome, "keep going", Keys.ENTER)
    wait_for_prompt(fake)
    request = fake.fake.chat_requests[0]
    server.signal(signal.SIGKILL)  # no clean-up at all
    wait_until(lambda: all_gone(apps), 15, message="the orphaned app to end")
    assert request.wait_disconnected_blocking(10)
    message = wait_until(lambda: chrome.execute_script(
        "return document.body.classList.contains('-closed') && "
        "document.getElementById('ended-message').innerText"), 10,
        message="the page to say the server is gone")
    assert "server is gone" in message
    assert not chrome.find_element("id", "restart").is_displayed()  # a reload would be refused


def test_a_stopped_server_says_so_in_the_tab(
        chrome: WebDriver, server: WebServerProcess) -> None:
    open_app(chrome, server)
    apps = server.app_pids()
    server.signal(signal.SIGTERM)
    message = wait_until(lambda: chrome.execute_script(
        "return document.body.classList.contains('-closed') && "
        "document.getElementById('ended-message').innerText"), 15,
        message="the page to say the server stopped")
    assert "server stopped" in message
    wait_until(lambda: all_gone(apps), 15, message="the app to end")
    assert server.process.wait(15) == 0
