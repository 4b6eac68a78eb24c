"""End to end: `mynaportal serve` (uvicorn on loopback, persisted operations only) with the sandbox CA, a
card issued by `mynaportal sandbox issue-card` and made by `myna-bridge virtual-card load` behind pcscd + vpcd,
and `myna-bridge login` as a user runs it."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nfc_bridge.jpki import Pin
from nfc_bridge.portal.store import Store
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.store import CardStore
from tests.nfc_bridge.conftest import InsertedCard
from tests.served import free_port as _free_port

MYNAPORTAL = shutil.which("mynaportal", path=str(Path(sys.executable).parent)) or "mynaportal"
REPO = Path(__file__).resolve().parents[3]


@dataclass
class Server:
    url: str
    env: dict[str, str]
    cards: Path

    def mynaportal(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([MYNAPORTAL, *args], env=self.env, capture_output=True, text=True, timeout=60,
                              check=False, cwd=self.cards.parent.parent)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("portal")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MYNAPORTAL_DATABASE_URL": f"sqlite:///{home / 'portal.sqlite3'}",
           "MYNAPORTAL_DEMO_KEYS_FILE": str(home / "keys.json"), "MYNAPORTAL_SANDBOX_CA_DIR": str(home / "ca"),
           "MYNAPORTAL_PUBLIC_URL": url, "MYNAPORTAL_REVOCATION_MAX_AGE": "0", "MYNAPORTAL_PERSISTED_ONLY": "true"}
    served = Server(url, env, home / "var" / "cards")
    assert served.mynaportal("migrate").returncode == 0
    assert served.mynaportal("demo-seed").returncode == 0
    issued = served.mynaportal("sandbox", "issue-card", "--demo")
    assert issued.returncode == 0, issued.stderr
    made = subprocess.run([sys.executable, "-m", "nfc_bridge.cli", "virtual-card", "load", "--sandbox-pins",
                           str(served.cards)], capture_output=True, text=True, timeout=60, check=False, cwd=REPO)
    assert made.returncode == 0, made.stderr
    cards = {path.name for path in served.cards.iterdir()}  # the child has no email: a card named by id
    assert len(cards) == 3 and {"hanako.json", "taro.json"} < cards
    assert not any(name.endswith(".issuance.json") for name in cards)  # the bundles hold keys: consumed
    process = subprocess.Popen([MYNAPORTAL, "serve", "--port", str(port)], env=env, cwd=home,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield served
    finally:
        process.terminate()
        process.wait(timeout=10)


def bridge(server: Server, reader: str, store: Path, *args: str, stdin: str = "1234\n") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nfc_bridge.portal", *args, "--server", server.url,
                           "--store", str(store), "--pin-stdin", "--reader", reader, "--extended"],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False, cwd=REPO)


@pytest.fixture
def inserted(pcscd: str, server: Server) -> Iterator[InsertedCard]:
    card = InsertedCard(pcscd, VirtualCard(CardStore(server.cards / "taro.json").load()))
    yield card
    card.close()


def test_card_login_phone_credential_and_phone_login(server: Server, inserted: InsertedCard, tmp_path: Path) -> None:
    started = time.perf_counter()
    login = bridge(server, inserted.reader, tmp_path, "login")
    elapsed = time.perf_counter() - started
    assert login.returncode == 0, login.stderr
    assert login.stdout.startswith(
        f"logged in to {server.url} (applications:write certificates:request family:read notices:read")
    session = (tmp_path / "session.json")
    assert oct(session.stat().st_mode & 0o777) == "0o600"
    assert elapsed < 20

    issued = bridge(server, inserted.reader, tmp_path, "phone-credential", "issue", stdin="ABC123\n")
    assert issued.returncode == 0, issued.stderr
    # Two keys: each of the phone's certificates carries its own.
    stored = Store(tmp_path).load_phone()
    assert stored is not None and stored.sign_key_pem and stored.sign_key_pem != stored.key_pem
    for key_pem, cert in ((stored.key_pem, stored.authentication_certificate),
                          (stored.sign_key_pem, stored.signature_certificate)):
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        assert x509.load_der_x509_certificate(base64.b64decode(cert)).public_key() == key.public_key()
    phone = bridge(server, inserted.reader, tmp_path, "login", "--phone")
    assert phone.returncode == 0, phone.stderr


def test_blocked_pin_is_refused_by_the_bridge_before_the_server(server: Server, pcscd: str,
                                                               tmp_path: Path) -> None:
    data = CardStore(server.cards / "hanako.json").load()
    data.pins["jpki/0018"].tries_left = 0
    card = InsertedCard(pcscd, VirtualCard(data))
    try:
        result = bridge(server, card.reader, tmp_path, "login")
    finally:
        card.close()
    assert result.returncode == 1
    assert result.stderr.startswith("myna-bridge: PIN_BLOCKED:")
    assert not (tmp_path / "session.json").exists()
    assert Pin.AUTH.max_tries == 3


def test_a_lost_card_is_refused(server: Server, pcscd: str, tmp_path: Path) -> None:
    data = CardStore(server.cards / "hanako.json").load()
    assert server.mynaportal("sandbox", "revoke-card", "--person", "hanako@example.jp").stdout == \
        "revoked 2 certificates\n"
    card = InsertedCard(pcscd, VirtualCard(data))
    try:
        result = bridge(server, card.reader, tmp_path, "login")
    finally:
        card.close()
    assert (result.returncode, result.stderr) == (1, "myna-bridge: CERTIFICATE_REVOKED: This certificate has been "
                                                     "revoked.\n")


# -- 子育てワンストップ end to end: the 児童手当 claim signed through pcscd with `myna-bridge apply` -------------------
@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def one_stop_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`mynaportal serve` on a database of each kind of its own (a fresh PostgreSQL database, dropped after)."""
    from sqlalchemy import create_engine as create_sync_engine
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    from tests.conftest import _postgres_admin_url

    home = tmp_path_factory.mktemp("one-stop")
    admin, name = None, ""
    if request.param == "sqlite":
        database = f"sqlite:///{home / 'portal.sqlite3'}"
    else:
        admin = create_sync_engine(_postgres_admin_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
        name = f"mynaportal_apply_{os.getpid()}_{_free_port()}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        database = f"{_postgres_admin_url().rsplit('/', 1)[0]}/{name}"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MYNAPORTAL_DATABASE_URL": database, "MYNAPORTAL_DEMO_KEYS_FILE": str(home / "keys.json"),
           "MYNAPORTAL_SANDBOX_CA_DIR": str(home / "ca"), "MYNAPORTAL_PUBLIC_URL": url,
           "MYNAPORTAL_REVOCATION_MAX_AGE": "0", "MYNAPORTAL_PERSISTED_ONLY": "true"}
    served = Server(url, env, home / "var" / "cards")
    process = None
    try:
        for step in (("migrate",), ("demo-seed",), ("sandbox", "issue-card", "--demo")):
            done = served.mynaportal(*step)
            assert done.returncode == 0, done.stderr
        made = subprocess.run([sys.executable, "-m", "nfc_bridge.cli", "virtual-card", "load", "--sandbox-pins",
                               str(served.cards)], capture_output=True, text=True, timeout=60, check=False, cwd=REPO)
        assert made.returncode == 0, made.stderr
        process = subprocess.Popen([MYNAPORTAL, "serve", "--port", str(port)], env=env, cwd=home,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield served
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_the_child_allowance_claim_signed_with_the_card_through_pcscd(one_stop_server: Server, pcscd: str,
                                                                       tmp_path: Path) -> None:
    server = one_stop_server
    walked = server.mynaportal("applications", "walkthrough")
    assert walked.returncode == 0, walked.stderr
    assert "from yokohama-city through the network" in walked.stdout
    draft = walked.stdout.split("draft ", 1)[1].split(":", 1)[0]
    taro = InsertedCard(pcscd, VirtualCard(CardStore(server.cards / "taro.json").load()))
    try:
        assert bridge(server, taro.reader, tmp_path, "login").returncode == 0
    finally:
        taro.close()
    # Another card (the mother's) cannot sign the father's claim.
    hanako = InsertedCard(pcscd, VirtualCard(CardStore(server.cards / "hanako.json").load()))
    try:
        other = bridge(server, hanako.reader, tmp_path, "apply", "--application", draft, stdin="ABC123\n")
    finally:
        hanako.close()
    assert (other.returncode, other.stderr.split(":")[0:2]) == (1, ["myna-bridge", " SIGNER_NOT_APPLICANT"])
    taro = InsertedCard(pcscd, VirtualCard(CardStore(server.cards / "taro.json").load()))
    try:
        applied = bridge(server, taro.reader, tmp_path, "apply", "--application", draft, stdin="ABC123\n")
    finally:
        taro.close()
    assert applied.returncode == 0, applied.stderr
    number = applied.stdout.split("受付番号 ", 1)[1].split(" ", 1)[0]
    assert applied.stdout == f"sent: 受付番号 {number} (received)\n"

    # The municipality accepts it through its API.
    key = server.mynaportal("agency-key", "--agency", "chiyoda-city", "--scope", "applications:inbox",
                            "--scope", "applications:decide").stdout.strip()
    headers = {"authorization": f"Bearer {key}"}
    listing = httpx.get(f"{server.url}/applications/inbox", params={"status": "received"}, headers=headers).json()
    assert [a["receptionNumber"] for a in listing["applications"]] == [number]
    got = httpx.get(f"{server.url}/applications/inbox/{number}", headers=headers).json()
    assert got["prefill"]["income"]["source"] == "network" and got["attachments"] == []
    signed = x509.load_der_x509_certificate(base64.b64decode(got["signature"]["certificate"]))
    assert signed.public_key() == x509.load_der_x509_certificate(
        base64.b64decode(CardStore(server.cards / "taro.json").load().sign_cert)).public_key()
    for index, status in enumerate(("reviewing", "completed")):
        moved = httpx.post(f"{server.url}/applications/inbox/{number}/moves", json={"status": status},
                           headers={**headers, "idempotency-key": f"e2e-{index}"})
        assert moved.status_code == 200, moved.text
    # The parent gets the notice, naming the 公金受取口座 the allowance goes to.
    session = Store(tmp_path).load_session()
    assert session is not None
    notices = httpx.post(f"{server.url}/graphql", headers={"authorization": f"Bearer {session.access_token}"},
                         json={"query": (REPO / "graphql/operations/phone/Notices.graphql").read_text(),
                               "variables": {"first": 5}}).json()
    latest = notices["data"]["notices"]["edges"][0]["node"]
    assert latest["title"] == "申請の手続が完了しました（児童手当 認定請求）"
    assert "公金受取口座（金融機関コード0001 支店001 口座番号****567）" in latest["body"]


# -- コンビニ交付 end to end: `myna-bridge kiosk` plays the store's terminal, the card behind pcscd -------------------
def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, check=True, text=True, timeout=60).stdout


def test_the_father_obtains_his_resident_record_at_a_kiosk_through_pcscd(one_stop_server: Server, pcscd: str,
                                                                          tmp_path: Path) -> None:
    server = one_stop_server
    registered = server.mynaportal("certificates", "register-kiosk", "--terminal", "E2E-1", "--store", "千代田店",
                                   "--operator", "デモマート")
    assert registered.returncode == 0, registered.stderr
    key = registered.stdout.rsplit(": ", 1)[1].strip()
    pdf = tmp_path / "juminhyo.pdf"
    taro = InsertedCard(pcscd, VirtualCard(CardStore(server.cards / "taro.json").load()))
    try:
        done = subprocess.run([sys.executable, "-m", "nfc_bridge.portal", "kiosk", "--server", server.url,
                               "--kiosk-key", key, "--pin-stdin", "--reader", taro.reader, "--extended",
                               "--receipt", "R-E2E-1", "--output", str(pdf)],
                              input="1234\n", capture_output=True, text=True, timeout=60, check=False, cwd=REPO)
    finally:
        taro.close()
    assert done.returncode == 0, done.stderr
    opened, printed = done.stdout.splitlines()
    session_id = opened.removeprefix("card authenticated at the kiosk (session ").removesuffix(")")
    assert printed.startswith("printed: resident-record ") and printed.endswith(f" bytes -> {pdf}")
    assert "(1 pages, fee 300 yen)" in printed
    # The PDF is his, signed by Chiyoda under the sandbox root: pdfsig checks it as anyone holding the file would.
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    assert "山田" in text and "太郎" in text and "住民票" in text
    nss = tmp_path / "nss"
    nss.mkdir()
    (tmp_path / "root.pem").write_bytes(httpx.get(f"{server.url}/certificates/v1/trust/root.pem").content)
    _run("certutil", "-N", "-d", f"sql:{nss}", "--empty-password")
    _run("certutil", "-A", "-d", f"sql:{nss}", "-n", "sandbox-municipal-root", "-t", "CT,C,C", "-i",
         str(tmp_path / "root.pem"))
    checked = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True).stdout
    first, stamp = checked.split("Signature #2")
    assert "Signature Validation: Signature is Valid." in first and "Certificate is Trusted." in first
    assert "Signature Field Name: Timestamp" in stamp  # the document timestamp (pdfsig cannot check RFC 3161)
    # Its QR code leads to the verification page, which says it was issued.
    _run("pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page"))
    [png] = list(tmp_path.glob("page*.png"))
    url = _run("zbarimg", "--quiet", "--raw", str(png)).strip()
    assert url.startswith(f"{server.url}/certificates/v1/verify/")
    assert httpx.get(url).status_code == 200
    # The card left: the session is over, and the document was handed once.
    headers = {"authorization": f"Bearer {key}", "idempotency-key": "after"}
    late = httpx.post(f"{server.url}/kiosk/v1/sessions/{session_id}/certificates", headers=headers,
                      json={"certificate": "resident-record", "receipt": "R-E2E-2"})
    assert (late.status_code, late.json()["code"]) == (410, "KIOSK_SESSION_ENDED")
