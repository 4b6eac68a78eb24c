"""The OpenAPI 3.1 document of the records log's public read routes (api.records.rest): hashes and signed tree
heads only, no personal data."""

from __future__ import annotations

from typing import Any

from api.platform.openapi import document, json_answer, problem, query_param

_SIZE = {"type": "integer", "minimum": 0, "maximum": (1 << 63) - 1}
_BAD = problem("A size that is not a whole number, or out of the log's range (BAD_USER_INPUT, VALUE_OUT_OF_RANGE).")
_PROOF = json_answer("The proof: base64 hashes, from the leaf (or the smaller tree) up.", {
    "type": "object", "required": ["proof"], "properties": {"proof": {"type": "array", "items": {"type": "string"}}}})


def openapi_document() -> dict[str, Any]:
    paths = {
        "/records/log/keys": {"get": {
            "summary": "The tree-head public keys (Ed25519), by generation",
            "responses": {"200": json_answer("The log's origin and its public keys.")}}},
        "/records/log/head": {"get": {
            "summary": "The latest signed tree head",
            "responses": {"200": json_answer("Size, root hash, timestamp, signature and key generation."),
                          "400": problem("An unexpected parameter (BAD_USER_INPUT)."),
                          "404": problem("No tree head signed yet (NOT_FOUND).")}}},
        "/records/log/proof/inclusion": {"get": {
            "summary": "RFC 9162 inclusion proof of leaf `index` in the tree of `treeSize` leaves",
            "parameters": [query_param("index", _SIZE, "The leaf's index.", required=True),
                           query_param("treeSize", _SIZE, "The size of a signed tree.", required=True)],
            "responses": {"200": _PROOF, "400": _BAD}}},
        "/records/log/proof/consistency": {"get": {
            "summary": "RFC 9162 consistency proof that the tree of `second` leaves extends the tree of `first`",
            "parameters": [query_param("first", _SIZE, "The smaller size.", required=True),
                           query_param("second", _SIZE, "The larger size.", required=True)],
            "responses": {"200": _PROOF, "400": _BAD}}},
    }
    return document("Records log: the tamper-evident log of exchange records",
                    "Public reads for auditors and monitors: signed tree heads, keys and RFC 9162 proofs. Errors "
                    "are RFC 9457 problems with a stable code.", paths)
