"""The card bridge: talks to My Number cards (JPKI) over PC/SC and NFC, and emulates one.

Runs on people's devices. It imports nothing from the server packages and reaches the server only
over HTTP. Byte-level facts come from shared/reference/jpki.md.
"""
