"""The identity tests' portal (sandbox CA, card emulator, the app's routes) for the web portal's tests, and the
applications tests' demo family with Chiyoda's inbox."""

from tests.api.applications.conftest import one_stop  # noqa: F401 - fixtures shared by name
from tests.api.identity.conftest import ca_dir, identity, sandbox_ca  # noqa: F401 - fixtures shared by name
