"""A SoftHSM2 token for the PKCS#11 key source's tests (Debian `softhsm2`, installed by `make test`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.platform.keys import KEY_KINDS, Pkcs11KeySource

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "mynaportal-test"
PIN = "1234-test"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The module's path, with a token initialised in a temporary directory."""
    if not Path(SOFTHSM_MODULE).exists() or shutil.which("softhsm2-util") is None:
        message = "SoftHSM2 is required for the PKCS#11 tests (Debian package softhsm2; `make test` installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    # SoftHSM reads it when the module is initialised, once per process: this fixture is the only loader.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "so-1234"],
                   check=True, capture_output=True)
    return SOFTHSM_MODULE


@pytest.fixture
def hsm_source(softhsm: str) -> Iterator[Pkcs11KeySource]:
    """A key source on the token, emptied of the portal's keys first (tests share the token)."""
    source = Pkcs11KeySource(softhsm, TOKEN, PIN)
    for kind in KEY_KINDS:
        for generation in source.generations(kind):
            source.retire(kind, generation)
    yield source
    source.close()
