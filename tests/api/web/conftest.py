"""The identity tests' portal (sandbox CA, card emulator, the app's routes) for the web portal's tests."""

from tests.api.identity.conftest import ca_dir, identity, sandbox_ca  # noqa: F401 - fixtures shared by name
