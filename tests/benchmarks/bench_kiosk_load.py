"""The kiosk load test at full size: tests/api/certificates/test_kiosk_load.py with 100 kiosks, 1,000 concurrent
certificate requests (the suite runs it with 20 kiosks, 200 requests), on PostgreSQL with `mynaportal serve
--workers 2`; the same proof (0 documents for anyone but the card holder at that kiosk), timed.

    .venv/bin/python tests/benchmarks/bench_kiosk_load.py [--kiosks 100]

Needs PostgreSQL (MYNAPORTAL_TEST_POSTGRES_URL's server), Redis (127.0.0.1:6379) and poppler's pdftotext. Prints
the wall time, the CPU time of the test process and of the server processes (its children), and the load average.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST = "tests/api/certificates/test_kiosk_load.py::test_no_kiosk_ever_receives_anyone_elses_certificate[postgresql]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiosks", type=int, default=100, help="kiosks, 10 concurrent requests each")
    kiosks = parser.parse_args().kiosks
    env = {**os.environ, "LOAD_KIOSKS": str(kiosks), "CI": "true"}
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=3", TEST],
                         cwd=ROOT, env=env, check=False)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # pytest and, through it, the two server processes
    print(f"kiosk load: {kiosks} kiosks, {kiosks * 10} requests: {'passed' if run.returncode == 0 else 'FAILED'} "
          f"in {seconds:.1f} s; CPU {usage.ru_utime + usage.ru_stime:.1f} s; load average "
          f"{' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
