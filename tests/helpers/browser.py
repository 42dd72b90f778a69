"""Headless Chromium for the page tests: where it is, how it starts, and a DevTools session over a pipe."""

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
)

# Answers a page does without: the browser asks for /favicon.ico by itself (a page that links no icon, and we
# serve none), and the staff page asks for the VAPID key to learn whether Web Push is on (404: it is off).
EXPECTED_NOT_FOUND = ("/favicon.ico", "/webpush/vapid-public-key")


def chromium() -> str:
    """Debian's chromium; CI installs it, so only a developer's machine may skip."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return path


def problems(events: list[dict]) -> list:
    """The page's uncaught exceptions, console errors and errors the browser logged (CSP, failed loads)."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(params["exceptionDetails"])
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            found.append([arg.get("value", arg.get("description")) for arg in params["args"]])
        elif (
            method == "Log.entryAdded"
            and params["entry"]["level"] == "error"
            and not params["entry"].get("url", "").endswith(EXPECTED_NOT_FOUND)
        ):
            found.append(params["entry"])
    return found


class DevTools:
    """One page of a headless Chromium, driven over the DevTools protocol; keeps every event it sends."""

    def __init__(self, browser: subprocess.Popen, commands: int, replies: int, log: Path):
        self.browser = browser
        self.events: list[dict] = []
        self._commands = commands
        self._replies = replies
        self._log = log
        self._received = b""
        self._last_id = 0
        self._session: str | None = None

    def attach(self) -> None:
        """Open an empty page and send every later command to it."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict:
        """The result of one command, keeping the events that arrive before it; fails after `timeout` s."""
        return self.call_in(self._session, method, timeout, **params)

    def call_in(self, session: str | None, method: str, timeout: float = 30, **params: Any) -> dict:
        """The result of one command in an attached session (None: the browser's own), as `call`."""
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while (reply := self._next_message(deadline)).get("id") != self._last_id:
            self.events.append(reply)
        assert "error" not in reply, (method, reply["error"])
        return reply["result"]

    def evaluate(self, expression: str, session: str | None = None) -> Any:
        """The value of a JavaScript expression (a promise's once settled) in the page, or in the target of
        another attached session (a service worker), as JSON gives it."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        result = self.call_in(session or self._session, "Runtime.evaluate", **params)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def event(self, method: str, match: Callable[[dict], bool] = lambda _: True, timeout: float = 30) -> dict:
        """The parameters of the first event named `method` that `match` accepts, kept or coming in time."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for event in self.events[checked:]:
                if event.get("method") == method and match(event.get("params", {})):
                    return event["params"]
            checked = len(self.events)
            self.events.append(self._next_message(deadline, awaited=f"the event {method}"))

    def attach_to(self, target_type: str, url: str, timeout: float = 30) -> str:
        """Attach to the first target of this type (`service_worker`, say) at a URL beginning with `url`."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.call_in(None, "Target.getTargets")["targetInfos"]
            found = [t["targetId"] for t in targets if t["type"] == target_type and t["url"].startswith(url)]
            if found:
                session = self.call_in(None, "Target.attachToTarget", targetId=found[0], flatten=True)
                return session["sessionId"]
            if time.monotonic() > deadline:
                pytest.fail(f"no {target_type} target at {url} within {timeout} s")
            time.sleep(0.1)

    def settled(self, expression: str, timeout: float = 30, interval: float = 0.2) -> Any:
        """The expression's value once it is not empty and the same on two reads `interval` s apart."""
        deadline = time.monotonic() + timeout
        previous = None
        while (value := self.evaluate(expression)) != previous or not value:
            if time.monotonic() > deadline:
                pytest.fail(f"the page did not settle within {timeout} s; it shows {value!r}")
            previous = value
            time.sleep(interval)
        return value

    def screenshot(self, path: Path) -> None:
        """Save the whole page, below the window too, as a PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self, timeout: float = 10) -> None:
        """Ask Chromium to quit; killed with its helper processes if it has not after `timeout` s."""
        try:
            os.write(self._commands, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.browser.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.browser.pid, signal.SIGKILL)
            self.browser.wait()
        finally:
            os.close(self._commands)
            os.close(self._replies)

    def _next_message(self, deadline: float, awaited: str = "an answer") -> dict:
        while b"\0" not in self._received:
            readable, _, _ = select.select([self._replies], [], [], max(deadline - time.monotonic(), 0))
            chunk = os.read(self._replies, 1 << 20) if readable else b""
            if not chunk:
                problem = f"did not send {awaited} in time" if not readable else "exited"
                pytest.fail(f"chromium {problem}: {self._log.read_text(errors='replace')[-2000:]}")
            self._received += chunk
        message, self._received = self._received.split(b"\0", 1)
        return json.loads(message)


@contextmanager
def devtools_page(binary: str, profile: Path) -> Iterator[DevTools]:
    """Headless Chromium with a new empty profile and one page to drive; closed on leaving."""
    profile.mkdir()
    log = profile.with_suffix(".log")
    commands_in, commands = os.pipe()
    replies, replies_out = os.pipe()
    # With --remote-debugging-pipe Chromium reads commands on fd 3 and writes replies on fd 4: the pipes
    # come in as the shell's stdin and stdout, which it moves there.
    command = ["sh", "-c", 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null', binary, *CHROMIUM_FLAGS]
    with log.open("wb") as stderr:
        browser = subprocess.Popen(
            [*command, "--remote-debugging-pipe", f"--user-data-dir={profile}"],
            stdin=commands_in,
            stdout=replies_out,
            stderr=stderr,
            # Its own process group: Chromium's helper processes are stopped with it if it has to be killed.
            start_new_session=True,
        )
    os.close(commands_in)
    os.close(replies_out)
    page = DevTools(browser, commands, replies, log)
    try:
        page.attach()
        yield page
    finally:
        page.close()
