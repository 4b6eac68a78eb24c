"""The scope names a token can carry: one place, so every domain checks the same strings.

A person's own session (card login) gets ``PERSON_SCOPES``; a TV session gets only ``TV_SCOPES``;
``PROFILE_NAME`` lets a TV show who is signed in (``viewer { name }``) and nothing else of the profile;
proxy grants (代理人) may delegate only ``DELEGABLE_SCOPES``.
"""

from __future__ import annotations

PROFILE_READ = "profile:read"
PROFILE_NAME = "profile:name"  # the name alone: what a TV shows of who is signed in
FAMILY_READ = "family:read"
NOTICES_READ = "notices:read"
NOTICES_WRITE = "notices:write"  # mark notices read / archived
PAYMENTS_READ = "payments:read"
PAYMENTS_WRITE = "payments:write"
APPLICATIONS_WRITE = "applications:write"
# The person's record (やりとり履歴) and what agencies hold about them (自己情報): read, export, ask corrections.
RECORDS_READ = "records:read"
CERTIFICATES_REQUEST = "certificates:request"  # ask for 住民票 and the other certificates (and pay their fee)

PERSON_SCOPES = frozenset({
    PROFILE_READ, FAMILY_READ, NOTICES_READ, NOTICES_WRITE, PAYMENTS_READ, PAYMENTS_WRITE, APPLICATIONS_WRITE,
    RECORDS_READ, CERTIFICATES_REQUEST,
})
# A TV is a shared screen in a living room: it may read notices and show the name, never pay or apply.
TV_SCOPES = frozenset({NOTICES_READ, PROFILE_NAME})
# What a TV may ask for beyond that: the payments due, to show (never to pay).
TV_OPTIONAL_SCOPES = frozenset({PAYMENTS_READ})
# What a principal may hand to a proxy; family:read stays with the parent-child link.
DELEGABLE_SCOPES = frozenset({
    PROFILE_READ, NOTICES_READ, NOTICES_WRITE, PAYMENTS_READ, PAYMENTS_WRITE, APPLICATIONS_WRITE, RECORDS_READ,
    CERTIFICATES_REQUEST,
})
