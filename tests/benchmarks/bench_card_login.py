"""Benchmark: card-login verification per second on one core (chain, revocation status from the cache,
signature), and the wall time of whole logins through pcscd + vpcd against `mynaportal serve` on loopback.

    python tests/benchmarks/bench_card_login.py [--verifications N] [--logins N]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from api.identity.challenges import login_message
from api.identity.revocation import RevocationChecker, Status
from api.identity.sandbox_ca import SandboxCA
from api.identity.verification import ChainVerifier, Usage, verify_signature

MYNAPORTAL = str(Path(sys.executable).parent / "mynaportal")


def bench_verifications(count: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        ca = SandboxCA.load_or_create(Path(home) / "ca", "http://127.0.0.1:1")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = ca.issue("card-auth", key.public_key())
    leaf_der = leaf.public_bytes(serialization.Encoding.DER)
    chain = [ca.authorities["card-auth"].cert.public_bytes(serialization.Encoding.DER)]
    chains = ChainVerifier(ca.roots, ca.intermediates)
    revocation = RevocationChecker(max_age=dt.timedelta(minutes=5))
    revocation._remember((revocation._issuer_key(ca.authorities["card-auth"].cert), leaf.serial_number), Status.GOOD,
                          None)
    message = login_message("bench", secrets.token_bytes(32))
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    async def one() -> None:
        now = dt.datetime.now(dt.UTC)
        path = chains.check(leaf_der, chain, Usage.AUTHENTICATION, now)
        assert await revocation.status(path.leaf, path.issuer) is Status.GOOD  # from the cache: no network
        verify_signature(path.leaf, message, signature)

    async def run() -> float:
        started = time.perf_counter()
        for _ in range(count):
            await one()
        return time.perf_counter() - started

    asyncio.run(run())  # warm up
    elapsed = asyncio.run(run())
    assert revocation.fetches == 0
    print(f"verifications: {count} in {elapsed:.3f} s = {count / elapsed:,.0f} per second on one core "
          f"({elapsed / count * 1e6:.0f} µs each: chain of 3 RSA-2048 links, cached revocation, RSA signature)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_logins(count: int) -> None:
    from nfc_bridge.errors import CardError
    from nfc_bridge.jpki import MyNumberCard
    from nfc_bridge.portal.client import PortalClient
    from nfc_bridge.transports.pcsc import PcscTransport
    from nfc_bridge.virtual_card.card import VirtualCard
    from nfc_bridge.virtual_card.pcscd import PcscdService, PcscdUnavailable
    from nfc_bridge.virtual_card.store import CardStore
    from nfc_bridge.virtual_card.vpcd import VpcdCardServer

    service = PcscdService()
    try:
        reader = service.start()
    except PcscdUnavailable as error:
        print(f"whole login through pcscd: skipped ({error})")
        return
    with tempfile.TemporaryDirectory() as home:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "MYNAPORTAL_DATABASE_URL": f"sqlite:///{home}/portal.sqlite3",
               "MYNAPORTAL_DEMO_KEYS_FILE": f"{home}/keys.json", "MYNAPORTAL_SANDBOX_CA_DIR": f"{home}/ca",
               "MYNAPORTAL_PUBLIC_URL": url, "MYNAPORTAL_LOG_LEVEL": "WARNING",
               "MYNAPORTAL_LOGIN_LIMIT_PER_CERTIFICATE": "1000"}
        for args in (["migrate"], ["demo-seed"], ["sandbox", "issue-card", "--person", "taro@example.jp",
                                                  "--output", f"{home}/taro.issuance.json"]):
            subprocess.run([MYNAPORTAL, *args], env=env, cwd=home, check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "nfc_bridge.cli", "virtual-card", "load", "--sandbox-pins",
                        f"{home}/taro.issuance.json"], check=True, capture_output=True)
        server = subprocess.Popen([MYNAPORTAL, "serve", "--port", str(port)], env=env, cwd=home,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        card_server = VpcdCardServer(VirtualCard(CardStore(Path(f"{home}/taro.json")).load())).start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            transport = None
            while transport is None and time.monotonic() < deadline:
                try:
                    transport = PcscTransport(reader, extended_length=True)
                except CardError:
                    time.sleep(0.05)
            assert transport is not None
            client = PortalClient(url)
            times = []
            for _ in range(count + 1):
                card = MyNumberCard(transport)
                started = time.perf_counter()
                card.select_jpki()
                client.card_login(card, "1234")
                times.append(time.perf_counter() - started)
            client.close()
            transport.close()
        finally:
            card_server.stop()
            server.terminate()
            server.wait(timeout=10)
            service.stop()
    first, rest = times[0], times[1:]
    print(f"whole login through pcscd + uvicorn (read 2 certs, VERIFY, challenge, sign, verify with OCSP): "
          f"first {first * 1000:.0f} ms (cold: OCSP fetch, new connections), then median "
          f"{statistics.median(rest) * 1000:.0f} ms, min {min(rest) * 1000:.0f} ms, max {max(rest) * 1000:.0f} ms "
          f"over {len(rest)} logins")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--verifications", type=int, default=2000)
    parser.add_argument("--logins", type=int, default=10)
    args = parser.parse_args()
    bench_verifications(args.verifications)
    bench_logins(args.logins)


if __name__ == "__main__":
    main()
