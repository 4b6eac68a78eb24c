"""The browser suite's stack, all real and on loopback: `mynaportal serve` with the demo data and the sandbox
CA, `mynaportal dev-payment-gateway`, the demo card behind pcscd + vpcd, `myna-bridge serve`, and Debian's
Chromium driven by Playwright (one browser for the whole session; never Playwright's own download).

Screenshots go to var/screenshots/ (outside git), one per page and size."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from api.cli import main as mynaportal_main
from nfc_bridge.cli import main as bridge_main
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.store import CardStore
from tests.conftest import IN_CI, POSTGRES_URL
from tests.nfc_bridge.conftest import InsertedCard, pcscd, pcscd_reader  # noqa: F401 - the shared reader fixtures
from tests.payments.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("MYNAPORTAL_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "var" / "screenshots"
AXE = Path(__file__).parent / "data" / "axe.min.js"
SIZES = {"phone": (390, 844), "pc": (1366, 768), "tv": (1920, 1080)}
AUTH_PIN = "1234"  # the sandbox cards' authentication PIN (myna-bridge virtual-card load --sandbox-pins)


def _command(name: str) -> str:
    return shutil.which(name, path=str(BIN)) or name


@dataclass
class Stack:
    url: str
    helper_url: str
    gateway_url: str
    env: dict[str, str]
    cards: Path
    home: Path

    def mynaportal(self, *args: str) -> str:
        """A `mynaportal` command, run in this process (the app is imported already: seconds saved each)."""
        out = io.StringIO()

        def run() -> None:
            with _environment(self.env), contextlib.chdir(self.home), contextlib.redirect_stdout(out):
                mynaportal_main(list(args))

        # In a thread of its own: the commands run their own event loop, and Playwright's runs in this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(run).result()
        return out.getvalue()

    def graphql(self, token: str, query: str, variables: dict | None = None) -> dict:
        answer = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                            headers={"authorization": f"Bearer {token}"}, timeout=10)
        body = answer.json()
        assert "errors" not in body, body
        return body["data"]


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _wait_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("web")
    port, gateway_port, helper_port = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    admin = None
    if request.param == "sqlite":
        database = f"sqlite:///{home / 'portal.sqlite3'}"
    else:
        admin = create_sync_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                                   poolclass=NullPool, isolation_level="AUTOCOMMIT")
        name = f"mynaportal_web_{uuid.uuid4().hex[:12]}"
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as error:  # unreachable server
            if IN_CI:
                pytest.fail(f"PostgreSQL is required: {error}")
            pytest.skip(f"PostgreSQL unavailable: {error}")
        database = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MYNAPORTAL_")}
    env.update({"MYNAPORTAL_DATABASE_URL": database, "MYNAPORTAL_DEMO_KEYS_FILE": str(home / "keys.json"),
                "MYNAPORTAL_SANDBOX_CA_DIR": str(home / "ca"), "MYNAPORTAL_PUBLIC_URL": url,
                "MYNAPORTAL_PAYMENT_GATEWAY_URL": f"http://127.0.0.1:{gateway_port}",
                "MYNAPORTAL_CARD_HELPER_URL": f"http://127.0.0.1:{helper_port}"})
    stack = Stack(url, f"http://127.0.0.1:{helper_port}", f"http://127.0.0.1:{gateway_port}", env,
                  home / "var" / "cards", home)
    gateway = subprocess.Popen([_command("mynaportal"), "dev-payment-gateway", "--port", str(gateway_port)],
                               env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes = [gateway]
    try:
        stack.mynaportal("migrate")
        processes.append(subprocess.Popen([_command("mynaportal"), "serve", "--port", str(port)], env=env, cwd=home,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # While the server starts: the demo data, and the demo people's cards (the CA the server loads on first use).
        stack.mynaportal("demo-seed")
        stack.mynaportal("sandbox", "issue-card", "--demo")
        with contextlib.redirect_stdout(io.StringIO()):
            assert bridge_main(["virtual-card", "load", "--sandbox-pins", str(stack.cards)]) == 0
        _wait_up(f"{stack.gateway_url}/healthz", processes[0])
        _wait_up(f"{url}/healthz", processes[1])
        yield stack
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@dataclass
class Helper:
    process: subprocess.Popen

    def give_pin(self, pin: str) -> None:
        """What the person types at the helper's own prompt (the page never sees it)."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{pin}\n")
        self.process.stdin.flush()


@pytest.fixture
def helper(stack: Stack, request: pytest.FixtureRequest) -> Iterator[Helper]:
    """The demo card (山田 太郎's) in the reader and `myna-bridge serve` allowing only the portal's origin."""
    reader = request.getfixturevalue("pcscd")  # the shared reader, held until the test ends
    card = InsertedCard(reader, VirtualCard(CardStore(stack.cards / "taro.json").load()))
    port = stack.helper_url.rsplit(":", 1)[1]
    process = subprocess.Popen(
        [_command("myna-bridge"), "serve", "--port", port, "--origin", stack.url, "--pin-stdin", "--reader", reader,
         "--extended"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("myna-bridge serve: http://127.0.0.1:")
        yield Helper(process)
    finally:
        process.terminate()
        process.communicate(timeout=10)  # closes its pipes
        card.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium for the module's tests (all of the browser suite). Not session-wide: Playwright's sync API
    keeps an event loop running in this thread while it is open, which later tests' asyncio.run would refuse."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (Debian's chromium package; `make test` installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def check_page(page: object, name: str) -> None:
    """Screenshots at phone, PC and TV sizes (var/screenshots/), and axe-core: no serious or critical
    violation."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size  # type: ignore[attr-defined]
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})  # type: ignore[attr-defined]
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)  # type: ignore[attr-defined]
    page.set_viewport_size(original)  # type: ignore[attr-defined]
    # Through the DevTools protocol: the page's own CSP (script-src 'self') stays on, as people get it.
    page.evaluate(AXE.read_text() + "\n;undefined")  # type: ignore[attr-defined]
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"  # type: ignore[attr-defined]
                          ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    assert serious == [], json.dumps(serious, ensure_ascii=False)
