from __future__ import annotations

from pathlib import Path

import pytest

from api.certificates import pki


def test_the_sandbox_set_is_made_once_and_production_refuses_it(tmp_path: Path) -> None:
    first = pki.load_or_create_sandbox(tmp_path / "keys", {"131016": "千代田区"})
    again = pki.load_or_create_sandbox(tmp_path / "keys", {"131016": "千代田区", "141003": "横浜市"})
    assert first.root == again.root and first.signer("131016").cert == again.signer("131016").cert
    assert sorted(again.signers) == ["131016", "141003"] and again.is_sandbox
    assert again.signer("141003").cert.issuer == again.root.subject
    with pytest.raises(pki.PkiUnavailable):
        again.signer("011002")
    with pytest.raises(RuntimeError, match="production refuses sandbox certificate keys"):
        pki.load(tmp_path / "keys", production=True)
