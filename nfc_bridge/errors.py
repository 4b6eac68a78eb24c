"""Exceptions: card status words mapped to clear types, and transport/reader failures."""

from __future__ import annotations


class CardError(Exception):
    """Base class of everything the bridge raises about cards and readers."""


class TransportError(CardError):
    """The link to the card failed (not a status word)."""


class NoReaderError(TransportError):
    def __init__(self, message: str = "no card reader found") -> None:
        super().__init__(message)


class NoCardError(TransportError):
    def __init__(self, message: str = "no card on the reader") -> None:
        super().__init__(message)


class CardRemovedError(TransportError):
    def __init__(self, message: str = "the card was removed during the operation") -> None:
        super().__init__(message)


class NotMyNumberCardError(CardError):
    def __init__(self, message: str = "this is not a My Number card (JPKI application not found)") -> None:
        super().__init__(message)


class MalformedResponseError(CardError):
    """The card answered bytes that are not a valid response (e.g. fewer than 2 bytes)."""


class StatusWordError(CardError):
    """The card answered a status word other than 9000."""

    sw: int
    default_message = "card error"

    def __init__(self, sw: int, message: str | None = None) -> None:
        self.sw = sw
        super().__init__(f"{message or self.default_message} (SW {sw:04X})")


class WrongPinError(StatusWordError):
    def __init__(self, sw: int, message: str | None = None) -> None:
        self.tries_left = sw & 0x0F
        super().__init__(sw, message or f"wrong PIN, {self.tries_left} tries left")


class PinBlockedError(StatusWordError):
    default_message = "PIN blocked (unblock it at the municipal office)"


class SecurityStatusNotSatisfiedError(StatusWordError):
    default_message = "security status not satisfied (PIN not verified)"


class CardFileNotFoundError(StatusWordError):
    default_message = "file or application not found"


class WrongLengthError(StatusWordError):
    default_message = "wrong length"


class WrongLeError(StatusWordError):
    """6Cxx: resend with Le = SW2 (T=0)."""

    default_message = "wrong Le"


class OffsetOutOfRangeError(StatusWordError):
    default_message = "offset beyond end of file"


class IncorrectParametersError(StatusWordError):
    default_message = "incorrect parameters P1-P2"


class IncorrectDataError(StatusWordError):
    default_message = "incorrect data field"


class ConditionsNotSatisfiedError(StatusWordError):
    default_message = "conditions of use not satisfied"


class NoCurrentEfError(StatusWordError):
    default_message = "no current EF"


class FileStructureError(StatusWordError):
    default_message = "command incompatible with file structure"


class InstructionNotSupportedError(StatusWordError):
    default_message = "instruction not supported"


class ClassNotSupportedError(StatusWordError):
    default_message = "class not supported"


class FunctionNotSupportedError(StatusWordError):
    default_message = "function not supported"


_EXACT: dict[int, type[StatusWordError]] = {
    0x6700: WrongLengthError,
    0x6981: FileStructureError,
    0x6982: SecurityStatusNotSatisfiedError,
    0x6983: PinBlockedError,  # ISO wording; the card itself uses 6984
    0x6984: PinBlockedError,
    0x6985: ConditionsNotSatisfiedError,
    0x6986: NoCurrentEfError,
    0x6A80: IncorrectDataError,
    0x6A81: FunctionNotSupportedError,
    0x6A82: CardFileNotFoundError,
    0x6A86: IncorrectParametersError,
    0x6B00: OffsetOutOfRangeError,
    0x6D00: InstructionNotSupportedError,
    0x6E00: ClassNotSupportedError,
}


def error_for_status(sw: int) -> StatusWordError:
    """The exception for a non-9000 status word."""
    if sw & 0xFFF0 == 0x63C0:
        return WrongPinError(sw)
    if sw & 0xFF00 == 0x6C00:
        return WrongLeError(sw)
    cls = _EXACT.get(sw, StatusWordError)
    return cls(sw)
