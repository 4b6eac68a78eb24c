"""Transports carry raw APDUs to a card: PC/SC (pyscard), NFC (nfcpy), in-process."""
