"""The documents the bridge sends: graphql/operations/phone/*.graphql exactly as they are, so a server that
accepts only persisted operations takes them.

A source checkout (and an editable install) reads graphql/operations/phone itself. A wheel carries those
files as the data package ``nfc_bridge.portal.operations``: pyproject.toml maps that package onto
graphql/operations/phone (``tool.setuptools.package-dir``); the folder of that name in the checkout only
lets setuptools find the package.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGED_OPERATIONS = "nfc_bridge.portal.operations"
CHECKOUT_OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations" / "phone"

START_CARD_LOGIN = "StartCardLogin"
COMPLETE_CARD_LOGIN = "CompleteCardLogin"
REFRESH_SESSION = "RefreshSession"
START_PHONE_CREDENTIAL = "StartPhoneCredential"
ISSUE_PHONE_CREDENTIAL = "IssuePhoneCredential"
APPLICATION = "Application"
APPLICATION_TO_SIGN = "ApplicationToSign"
SUBMIT_APPLICATION = "SubmitApplication"
SENT = (START_CARD_LOGIN, COMPLETE_CARD_LOGIN, REFRESH_SESSION, START_PHONE_CREDENTIAL, ISSUE_PHONE_CREDENTIAL,
        APPLICATION, APPLICATION_TO_SIGN, SUBMIT_APPLICATION)


def operations_folder() -> Traversable:
    if CHECKOUT_OPERATIONS.is_dir():
        return CHECKOUT_OPERATIONS
    return resources.files(PACKAGED_OPERATIONS)


@cache
def document(name: str) -> str:
    """The text of the persisted operation ``name`` (its file is ``<name>.graphql``)."""
    return operations_folder().joinpath(f"{name}.graphql").read_text(encoding="utf-8")
