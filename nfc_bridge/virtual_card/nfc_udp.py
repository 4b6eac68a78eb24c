"""Serve a virtual card as an NFC-B Type 4 card over nfcpy's UDP driver (jpki.md §6.3).

nfcpy cannot emulate Type B with real hardware, and ``nfc.tag.emulate`` only does Type 3, so the
activation answer (SENSB_RES, ATTRIB) comes from nfcpy's listen_ttb and ISO-DEP is ours
(``nfc_bridge.isodep``). A slow command is run in a worker thread; while it runs the card asks for
waiting-time extensions so the reader's frame waiting time never expires.
"""

from __future__ import annotations

import logging
import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import nfc
import nfc.clf

from nfc_bridge.isodep import Execute, IsoDepCard, Reply, parse_attrib, wtx_request
from nfc_bridge.virtual_card.card import VirtualCard

log = logging.getLogger(__name__)

APPLICATION_DATA = bytes.fromhex("000005E0")
FWI = 10  # FWT = 4096/13.56 MHz * 2^10 ≈ 309 ms, as the real card
PROTOCOL_INFO = bytes((0xB3, 0x81, (FWI << 4) | 0x01))  # 106-424 kbps, FSC 256, ISO 14443-4, CID


def fwt_seconds(fwi: int = FWI) -> float:
    return 4096 / 13.56e6 * (1 << fwi)


class NfcUdpCardServer:
    def __init__(self, card: VirtualCard, host: str = "localhost", port: int = 54321,
                 idle_timeout: float = 10.0) -> None:
        self.card = card
        self.host, self.port = host, port
        self.idle_timeout = idle_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="card-cpu")
        self.activations = 0
        self.wtx_requests = 0

    def _sensb_res(self, pupi: bytes) -> bytes:
        return b"\x50" + pupi + APPLICATION_DATA + PROTOCOL_INFO

    def serve_forever(self) -> None:
        clf = nfc.ContactlessFrontend(f"udp:{self.host}:{self.port}")
        try:
            while not self._stop.is_set():
                pupi = secrets.token_bytes(4)  # random per activation, as on the real card
                target = nfc.clf.LocalTarget("106B", sensb_res=self._sensb_res(pupi))
                try:
                    activated = clf.listen(target, 0.5)
                except (nfc.clf.TimeoutError, nfc.clf.BrokenLinkError):
                    continue
                if activated is None or activated.tt4_cmd is None:
                    continue
                self._session(clf, activated.tt4_cmd, pupi)
        finally:
            clf.close()
            self._executor.shutdown(wait=False)

    def _session(self, clf: nfc.ContactlessFrontend, attrib: bytes, pupi: bytes) -> None:
        params = parse_attrib(bytes(attrib), pupi)
        if params is None:
            return
        fsd, cid = params
        self.activations += 1
        self.card.reset()  # a new activation is a fresh power-up of the chip
        iso = IsoDepCard(fsd, cid if cid else None)
        response: bytes | None = bytes((cid,))  # answer to ATTRIB: MBLI 0, CID
        while not self._stop.is_set():
            try:
                frame = clf.exchange(response, self.idle_timeout)
            except (nfc.clf.TimeoutError, nfc.clf.BrokenLinkError):
                return  # reader gone (RFOFF) or field idle: back to waiting for SENSB_REQ
            except nfc.clf.CommunicationError:
                response = None
                continue
            if frame is None:
                return
            event = iso.receive(bytes(frame))
            if isinstance(event, Execute):
                response = self._execute(clf, iso, event.apdu)
                if response is None:
                    return
            elif isinstance(event, Reply):
                if event.deselected:
                    clf.exchange(event.frame, 0)  # send only; then wait for a new activation
                    return
                response = event.frame
            else:
                response = None

    def _execute(self, clf: nfc.ContactlessFrontend, iso: IsoDepCard, apdu: bytes) -> bytes | None:
        future: Future[bytes] = self._executor.submit(self.card.process, apdu)
        # ask for more time well before the reader's FWT runs out
        budget = fwt_seconds() * 0.5
        while True:
            try:
                rapdu = future.result(timeout=budget)
                break
            except FutureTimeout:
                wtxm = 1
                self.wtx_requests += 1
                try:
                    answer = clf.exchange(wtx_request(wtxm), fwt_seconds())
                except (nfc.clf.TimeoutError, nfc.clf.BrokenLinkError):
                    future.result()  # let the command finish; the reader has gone
                    return None
                if answer is None or bytes(answer[:1]) != b"\xf2":
                    log.info("reader did not acknowledge WTX")
                    future.result()
                    return None
                budget = fwt_seconds() * wtxm * 0.5
        return iso.respond(rapdu)

    def start(self) -> NfcUdpCardServer:
        self._thread = threading.Thread(target=self.serve_forever, name="nfc-udp-card", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
