"""How long masking secrets takes (workflows.secrets.scrub), on what a run stores.

    .venv/bin/python bench/scrub.py

Prints seconds for: one 1 MB text holding one of 20 secrets (an HTTP block's
error page echoing it), the same without any, 20,000 short strings (a big
JSON answer) with 20 secrets, and 10,000 items each echoing a secret. Each
secret has characters that escape.
"""

import os
import random
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from workflows.secrets import MASK, scrub  # noqa: E402


def timed(label: str, value, secrets, repeat: int = 3) -> None:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = scrub(value, secrets)
        best = min(best, time.perf_counter() - started)
    print(f"{label:<52} {best * 1000:9.1f} ms")
    return result


def main() -> None:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "/+\"&<>'%"
    secrets = ["".join(rng.choices(alphabet, k=24)) for _ in range(20)]
    filler = "".join(rng.choices(string.ascii_letters + " ", k=1_000_000))
    hit = filler[:500_000] + secrets[7] + filler[500_000:]
    masked = timed("1 MB holding one of 20 secrets", hit, secrets)
    assert MASK in masked and secrets[7] not in masked
    timed("1 MB holding none of 20 secrets", filler, secrets)
    small = {
        f"k{n}": ["".join(rng.choices(string.ascii_letters, k=40))]
        for n in range(20_000)
    }
    timed("20,000 short strings, 20 secrets, none held", small, secrets)
    echoed = [{"id": n, "note": f"user {n} token {secrets[3]}"} for n in range(10_000)]
    masked = timed("10,000 items each echoing one of 2 secrets", echoed, secrets[2:4])
    assert secrets[3] not in str(masked)
    timed(
        "one short string, 2 secrets (a typical output)", {"a": "ok"}, secrets[:2], 50
    )


if __name__ == "__main__":
    main()
