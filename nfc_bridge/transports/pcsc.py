"""PC/SC transport through pyscard: any reader pcscd (or WinSCard) knows, contact or contactless."""

from __future__ import annotations

from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.pcsc.PCSCExceptions import EstablishContextException, ListReadersException
from smartcard.scard import SCARD_RESET_CARD
from smartcard.System import readers as _pcsc_readers

from nfc_bridge.errors import CardRemovedError, NoCardError, NoReaderError, TransportError

# SCARD_W_REMOVED_CARD / SCARD_W_RESET_CARD / SCARD_E_NO_SMARTCARD
_REMOVED_CODES = {0x80100069, 0x80100068, 0x8010000C}


def list_readers() -> list[str]:
    try:
        return [str(r) for r in _pcsc_readers()]
    except (EstablishContextException, ListReadersException) as exc:
        raise NoReaderError(f"no card reader found (PC/SC service unavailable: {exc})") from exc


class PcscTransport:
    """``reader`` is a name (or a unique prefix of one) or an index; None = the first reader with a card.

    ``extended_length`` lets READ BINARY ask for a whole certificate in one APDU; only enable it for
    readers that support extended APDUs (vpcd does).
    """

    def __init__(self, reader: str | int | None = None, *, extended_length: bool = False) -> None:
        self.max_response_length = 65536 if extended_length else 256
        try:
            available = _pcsc_readers()
        except (EstablishContextException, ListReadersException) as exc:
            raise NoReaderError(f"no card reader found (PC/SC service unavailable: {exc})") from exc
        if not available:
            raise NoReaderError()
        if isinstance(reader, int):
            if not 0 <= reader < len(available):
                raise NoReaderError(f"no reader with index {reader}")
            candidates = [available[reader]]
        elif reader is not None:
            candidates = [r for r in available if str(r) == reader] or \
                [r for r in available if str(r).startswith(reader)]
            if not candidates:
                raise NoReaderError(f"no reader named {reader!r}")
        else:
            candidates = list(available)
        self.reader_name = ""
        last_error: Exception | None = None
        for candidate in candidates:
            connection = candidate.createConnection()
            try:
                connection.connect()
            except (NoCardException, CardConnectionException) as exc:
                last_error = exc
                _release(connection)
                continue
            self._connection = connection
            self.reader_name = str(candidate)
            return
        raise NoCardError(f"no card on {'the reader' if reader is not None else 'any reader'}") from last_error

    @property
    def atr(self) -> bytes:
        return bytes(self._connection.getATR())

    def transmit(self, apdu: bytes) -> bytes:
        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu))
        except CardConnectionException as exc:
            code = getattr(exc, "hresult", -1) & 0xFFFFFFFF
            if code in _REMOVED_CODES or "removed" in str(exc).lower():
                raise CardRemovedError() from exc
            raise TransportError(f"PC/SC transmit failed: {exc}") from exc
        return bytes(data) + bytes((sw1, sw2))

    def reconnect(self) -> None:
        """Warm reset of the card (clears its security state)."""
        self._connection.reconnect(disposition=SCARD_RESET_CARD)

    def close(self) -> None:
        _release(self._connection)


def _release(connection: object) -> None:
    """Release the PC/SC context now: pyscard's __del__ would raise later if pcscd has gone."""
    try:
        connection.release()  # type: ignore[attr-defined]
    except CardConnectionException:
        pass
    # make a second release (from __del__) a no-op even if the first one failed half-way
    connection.hcontext = None  # type: ignore[attr-defined]
    connection.hcard = None  # type: ignore[attr-defined]
