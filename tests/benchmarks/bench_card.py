"""Benchmark: "read the authentication certificate, verify the PIN, sign a challenge" over pcscd+vpcd
and over nfcpy UDP (card in a separate process). Prints APDUs, bytes and time per transport.

    python tests/benchmarks/bench_card.py [--rounds N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from nfc_bridge.card_info import Basic4Info
from nfc_bridge.errors import CardError
from nfc_bridge.jpki import Cert, Key, MyNumberCard, Pin
from nfc_bridge.transports.base import CardTransport, CountingTransport
from nfc_bridge.virtual_card.ca import CardCA
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.store import CardStore
from nfc_bridge.virtual_card.transport import VirtualTransport

PIN = "1234"


def flow(transport: CardTransport) -> tuple[int, int, int, float]:
    counting = CountingTransport(transport)
    card = MyNumberCard(counting)
    started = time.perf_counter()
    card.read_certificate(Cert.AUTH)
    card.verify_pin(Pin.AUTH, PIN)
    card.sign_digest(Key.AUTH, hashlib.sha256(secrets.token_bytes(32)).digest())
    elapsed = time.perf_counter() - started
    c = counting.counter
    return c.apdus, c.bytes_sent, c.bytes_received, elapsed


def report(label: str, make: Callable[[], CardTransport], rounds: int) -> None:
    times, last = [], (0, 0, 0, 0.0)
    for _ in range(rounds):
        transport = make()
        try:
            last = flow(transport)
        finally:
            transport.close()
        times.append(last[3])
    print(f"{label:<34} {last[0]:>5} {last[1]:>8} {last[2]:>9} {statistics.median(times) * 1000:>9.1f}"
          f" {min(times) * 1000:>8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    ca = CardCA.generate()
    data = ca.issue_card(Basic4Info("番号　花子", "東京都", dt.date(1990, 4, 1), "2"), "621498320257",
                         auth_pin=PIN, sign_password="BENCH123", card_info_pin="5678")
    print("flow: read auth certificate + verify auth PIN + sign SHA-256 challenge (RSA-2048)")
    print(f"{'transport':<34} {'APDUs':>5} {'sent B':>8} {'recv B':>9} {'median ms':>9} {'min ms':>8}")
    card = VirtualCard(data.copy())
    report("in-process (short APDUs)", lambda: VirtualTransport(card, extended_length=False), args.rounds)
    report("in-process (extended Le)", lambda: VirtualTransport(card, extended_length=True), args.rounds)

    from nfc_bridge.transports.pcsc import PcscTransport
    from nfc_bridge.virtual_card.pcscd import PcscdService, PcscdUnavailable
    from nfc_bridge.virtual_card.vpcd import VpcdCardServer

    service = PcscdService()
    try:
        reader = service.start()
        server = VpcdCardServer(VirtualCard(data.copy())).start()
        deadline = time.monotonic() + 10
        while True:
            try:
                PcscTransport(reader).close()
                break
            except CardError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        report("pcscd + vpcd (short APDUs)", lambda: PcscTransport(reader), args.rounds)
        report("pcscd + vpcd (extended Le)", lambda: PcscTransport(reader, extended_length=True), args.rounds)
        server.stop()
    except PcscdUnavailable as exc:
        print(f"pcscd + vpcd: skipped ({exc})")
    finally:
        service.stop()

    from nfc_bridge.transports.nfc import NfcTransport

    with tempfile.TemporaryDirectory() as tmp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        card_file = Path(tmp) / "card.json"
        CardStore(card_file).save(data.copy())
        process = subprocess.Popen(
            [sys.executable, "-m", "nfc_bridge.cli", "emulate", str(card_file), "--nfc-udp", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, env={**os.environ})
        try:
            assert process.stdout is not None
            process.stdout.readline()
            report("nfcpy UDP, NFC-B ISO-DEP (FSC 256)", lambda: NfcTransport(f"udp:127.0.0.1:{port}"), args.rounds)
        finally:
            process.terminate()
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
    print("bytes are APDU bytes (ISO-DEP PCBs and UDP framing not counted); time excludes connect/activation")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
