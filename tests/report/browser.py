"""A test driver (not part of the package): open a report in headless Chromium and record what
a viewer would see: console messages, uncaught errors, every network request, and a full-page
screenshot.

Uses the Chrome DevTools Protocol over `--remote-debugging-pipe` (NUL-separated JSON on file
descriptors 3 and 4), so it needs only the `chromium` binary, no websocket client and no port.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dranet_keras.errors import UserError
from dranet_keras.io import atomic_write_bytes
from dranet_keras.report.screenshot import CHROMIUM_NAMES, find_chromium

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


class BrowserError(UserError):
    """Chromium is missing or did not answer."""


@dataclass
class PageVisit:
    """What happened while a page loaded."""

    console: list[str] = field(default_factory=list)  # "level: text" of console and log entries
    errors: list[str] = field(default_factory=list)  # console errors, log errors, uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL the page asked for (incl. itself)
    title: str = ""
    screenshot: Path | None = None


class _DevTools:
    """A minimal synchronous DevTools client over the two pipes."""

    def __init__(self, write_fd: int, read_fd: int, timeout: float):
        self.write_fd, self.read_fd, self.timeout = write_fd, read_fd, timeout
        self.buffer = b""
        self.events: list[dict] = []
        self.next_id = 0

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.read_fd], [], [], remaining)[0]:
                raise BrowserError(f"chromium did not answer within {self.timeout:.0f} s")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the DevTools pipe (did it crash?)")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"DevTools {method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        if any(event.get("method") == method for event in self.events):
            return
        deadline = time.monotonic() + self.timeout
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return


def _visit_from_events(events: list[dict]) -> PageVisit:
    visit = PageVisit()
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            visit.console.append(f"{params.get('type')}: {text}")
            if params.get("type") in ("error", "assert"):
                visit.errors.append(text)
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            visit.console.append(f"{entry.get('level')}: {entry.get('text')}")
            if entry.get("level") == "error":
                visit.errors.append(entry.get("text", ""))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            visit.errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Network.requestWillBeSent":
            visit.requests.append(params.get("request", {}).get("url", ""))
    return visit


def _pipes_to_fds_3_and_4(commands_in: int, replies_out: int) -> None:
    """In the child: put our pipe ends on fds 3 and 4, as --remote-debugging-pipe expects.

    Both are first copied above 9 so that moving one cannot overwrite the other; `os.dup2`
    makes the targets inheritable."""
    high_in, high_out = fcntl.fcntl(commands_in, fcntl.F_DUPFD, 10), fcntl.fcntl(replies_out, fcntl.F_DUPFD, 10)
    os.dup2(high_in, 3)
    os.dup2(high_out, 4)


def visit_page(html_path: Path, screenshot_path: Path | None = None, width: int = 1280, timeout: float = 60.0) -> PageVisit:
    """Load `html_path` in headless Chromium; optionally save a full-page PNG screenshot."""
    executable = find_chromium()
    if executable is None:
        raise BrowserError(f"no Chromium found on PATH (tried {', '.join(CHROMIUM_NAMES)}); Debian: apt-get install chromium")
    url = Path(html_path).resolve().as_uri()
    to_browser_read, to_browser_write = os.pipe()
    from_browser_read, from_browser_write = os.pipe()
    with tempfile.TemporaryDirectory(prefix="dranet-chromium-") as profile:
        process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # Python's own fds are non-inheritable (PEP 446); 3 and 4 are made inheritable
            preexec_fn=lambda: _pipes_to_fds_3_and_4(to_browser_read, from_browser_write),
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        devtools = _DevTools(to_browser_write, from_browser_read, timeout)
        try:
            target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                devtools.call(f"{domain}.enable", session=session)
            devtools.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
            devtools.events.clear()  # only what the report itself does counts
            devtools.call("Page.navigate", {"url": url}, session)
            devtools.wait_for("Page.loadEventFired")
            title = devtools.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True}, session)
            visit = _visit_from_events([e for e in devtools.events if e.get("sessionId") == session])
            visit.title = title.get("result", {}).get("value", "")
            if screenshot_path is not None:
                size = devtools.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
                clip = {"x": 0, "y": 0, "width": width, "height": min(int(size["height"]) + 1, 16000), "scale": 1}
                shot = devtools.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}, session)
                atomic_write_bytes(screenshot_path, base64.b64decode(shot["data"]))
                visit.screenshot = Path(screenshot_path)
            try:
                devtools.call("Browser.close")
            except BrowserError:  # the pipe may close before the reply arrives
                pass
        finally:
            os.close(to_browser_write)
            os.close(from_browser_read)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return visit
