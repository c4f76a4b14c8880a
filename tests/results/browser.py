"""A real headless Chromium driven over the DevTools protocol (a pipe, standard library only):
load a local page with the network switched off, then read its DOM, console and a screenshot.

Chromium is the Debian package ``chromium`` (``.ci/run`` installs it where it is missing).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Flags for a quiet, isolated, offline browser: no sandbox (we may run as root in CI), no GPU,
#: no background traffic, and every host unreachable even before DevTools switches the network off.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--window-size=1200,900",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageResult:
    """What a loaded page showed: plotly SVGs, other SVGs, problems reported, a screenshot."""

    plotly_svgs: int
    svgs: int
    errors: list[str] = field(default_factory=list)
    screenshot: bytes = b""


class Chromium:
    """One headless Chromium process, spoken to over ``--remote-debugging-pipe`` (fds 3 and 4)."""

    def __init__(self, executable: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="nas-chromium-")
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()
        # the pipes must be fds 3 and 4 in Chromium: move ours clear of them, then let bash place them
        r = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10)
        w = fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
        os.close(to_child)
        os.close(from_child)
        command = f'exec "$0" "$@" 3<&{r} 4>&{w} {r}<&- {w}>&-'
        self.process = subprocess.Popen(
            [
                "bash",
                "-c",
                command,
                executable,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            pass_fds=(r, w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(r)
        os.close(w)
        self._buffer = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one DevTools command and return its result (events that arrive meanwhile are kept)."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 60.0) -> dict:
        """The first event named ``event`` (already received or the next to come)."""
        for seen in self.events:
            if seen.get("method") == event:
                return seen
        while True:
            message = self._read(timeout)
            self.events.append(message)
            if message.get("method") == event:
                return message

    def _read(self, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def close(self) -> None:
        """Close the browser and remove its profile."""
        try:
            self.call("Browser.close")
        except (OSError, RuntimeError, EOFError, TimeoutError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._in)
        os.close(self._out)
        shutil.rmtree(self.profile, ignore_errors=True)


def load_page(executable: str, page: Path, timeout: float = 30.0) -> PageResult:
    """Open ``page`` offline in a fresh headless Chromium and report what it rendered."""
    browser = Chromium(executable)
    try:
        (target,) = [
            t for t in browser.call("Target.getTargets")["targetInfos"] if t["type"] == "page"
        ]
        attach = {"targetId": target["targetId"], "flatten": True}
        session = browser.call("Target.attachToTarget", attach)["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            browser.call(f"{domain}.enable", session=session)
        offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
        browser.call("Network.emulateNetworkConditions", offline, session=session)
        browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired", timeout)

        def evaluate(expression: str) -> Any:
            result = browser.call(
                "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session
            )
            return result["result"].get("value")

        # plotly marks each graph it has drawn with the class js-plotly-plot
        drawn = "[...document.querySelectorAll('.plotly-graph-div')].every(d => d.classList.contains('js-plotly-plot'))"
        deadline = time.monotonic() + timeout
        while not evaluate(drawn) and time.monotonic() < deadline:
            time.sleep(0.1)
        plotly = evaluate("document.querySelectorAll('.js-plotly-plot svg.main-svg').length")
        svgs = evaluate("document.querySelectorAll('svg').length")
        shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
        return PageResult(
            int(plotly), int(svgs), problems(browser.events), base64.b64decode(shot["data"])
        )
    finally:
        browser.close()


def problems(events: list[dict[str, Any]]) -> list[str]:
    """Console errors and warnings, uncaught exceptions and failed loads among DevTools events."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "warning",
            "assert",
        ):
            found.append(
                "console: "
                + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            found.append(
                "exception: "
                + str(details.get("exception", {}).get("description", details["text"]))
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            found.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}".strip())
    return found


def blank(png: bytes) -> bool:
    """Whether a screenshot is (nearly) one colour: under 1% of its pixels differ from the most common."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height) or []
    most = max(n for n, _ in colours)
    return image.width * image.height - most < 0.01 * image.width * image.height
