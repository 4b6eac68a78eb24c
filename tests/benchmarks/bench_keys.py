"""Re-encryption benchmark (a script, not collected by pytest): how fast `mynaportal keys reencrypt` moves
individual numbers to a new data-key and lookup-key generation.

N persons (default 20,000) are bulk-inserted under generation 1; the job then moves them all to generation 2
in batches (default 500 rows, each batch its own transaction) and the rate is printed: rows/s over the whole
job, and the time to find one person by number (the lookup hashes under both generations) while rows move.
With --hsm the keys live in a SoftHSM2 token (PKCS#11), so every AES-GCM and HMAC goes through the module.

    .venv/bin/python tests/benchmarks/bench_keys.py [--database sqlite|postgresql] [--rows 20000]
        [--batch 500] [--hsm]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from api.migrate import migrate  # noqa: E402
from api.people.individual_number import IndividualNumberCipher, check_digit  # noqa: E402
from api.people.key_rotation import BatchProgress, reencrypt, rotation_status  # noqa: E402
from api.people.models import Municipality, Person  # noqa: E402
from api.people.service import find_by_individual_number  # noqa: E402
from api.platform.db import create_engine, create_session_factory, dispose_engine  # noqa: E402
from api.platform.keys import KeySource, Pkcs11KeySource, StaticKeySource  # noqa: E402
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings  # noqa: E402

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


async def database(kind: str) -> tuple[str, object]:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-keys-')}/bench.sqlite3"
        cleanup = None
    else:
        from sqlalchemy import create_engine as sync_engine

        admin_url = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
        name = f"bench_keys_{uuid.uuid4().hex[:8]}"
        admin = sync_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{admin_url.rsplit('/', 1)[0]}/{name}"

        def cleanup() -> None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    await migrate(make_settings(url))
    return url, cleanup


def hsm_source() -> Pkcs11KeySource:
    """A fresh SoftHSM2 token in a temporary directory, with generation 1 and 2 of each key inside it."""
    root = Path(tempfile.mkdtemp(prefix="bench-softhsm-"))
    (root / "tokens").mkdir()
    (root / "softhsm2.conf").write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(root / "softhsm2.conf")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin",
                    "5678"], check=True, capture_output=True)
    source = Pkcs11KeySource(SOFTHSM, "bench", "1234")
    for kind in ("data", "lookup", "data", "lookup"):
        source.add_generation(kind)
    return source


def number(i: int) -> str:
    base = f"{10_000_000_000 + i:011d}"
    return base + str(check_digit(base))


class OnlyGeneration1:
    """The old configuration's view of a key source: generation 1 writes (to load the rows)."""

    def __init__(self, inner: KeySource) -> None:
        self.inner = inner

    def generations(self, kind):  # type: ignore[no-untyped-def]
        return (1,)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


async def load(url: str, cipher: IndividualNumberCipher, rows: int) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(insert(Municipality), [{"code": "131016", "prefecture": "東京都",
                                                         "name": "千代田区"}])
        for start in range(0, rows, 2000):
            values = []
            for i in range(start, min(start + 2000, rows)):
                sealed = cipher.seal(number(i))
                values.append({"id": uuid.uuid4(), "name": "山田 太郎", "name_kana": "ヤマダ タロウ",
                               "birth_date": date(1985, 4, 1), "sex": "male", "address": "東京都千代田区1-1",
                               "municipality_code": "131016", "email": None, "phone": None,
                               "individual_number_ciphertext": sealed.ciphertext,
                               "individual_number_hash": sealed.lookup_hash,
                               "number_key_generation": 1, "number_lookup_generation": 1})
            await connection.execute(insert(Person.__table__), values)
    await dispose_engine(engine)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--hsm", action="store_true", help="keys inside a SoftHSM2 token (PKCS#11)")
    args = parser.parse_args()

    source: KeySource = hsm_source() if args.hsm else StaticKeySource(
        {2: bytes([7]) * 32, 1: TEST_DATA_KEY}, {2: bytes([9]) * 32, 1: TEST_LOOKUP_KEY})
    url, cleanup = await database(args.database)
    try:
        await load(url, IndividualNumberCipher(TEST_DATA_KEY, keys=OnlyGeneration1(source)), args.rows)
        cipher = IndividualNumberCipher(TEST_DATA_KEY, keys=source)
        engine = create_engine(url)
        factory = create_session_factory(engine)
        lookups: list[float] = []

        async def probe(progress: BatchProgress) -> None:
            # A person is found while the job runs (whichever generation their row is under).
            started = time.perf_counter()
            async with factory() as session:
                found = await find_by_individual_number(session, cipher, number(progress.batches * 7 % args.rows))
            lookups.append(time.perf_counter() - started)
            assert found is not None

        started = time.perf_counter()
        moved = await reencrypt(factory, cipher, batch=args.batch, on_batch=probe)
        elapsed = time.perf_counter() - started
        status = await rotation_status(factory, cipher)
        await dispose_engine(engine)
        assert moved == args.rows and status.pending == 0, (moved, status)
        lookups.sort()
        print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores; "
              f"{args.database}, keys {'in SoftHSM2 (PKCS#11)' if args.hsm else 'from settings'}")
        print(f"re-encrypted {moved} rows in {elapsed:.2f} s with batches of {args.batch}: "
              f"{moved / elapsed:.0f} rows/s (probe in the job's own time: {sum(lookups) * 1000:.0f} ms)")
        print(f"find by number during the job: median {lookups[len(lookups) // 2] * 1000:.2f} ms, "
              f"max {lookups[-1] * 1000:.2f} ms over {len(lookups)} lookups")
    finally:
        if cleanup is not None:
            cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    asyncio.run(main())
