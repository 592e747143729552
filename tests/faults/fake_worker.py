"""A `medsafe worker` around the drills' fake engines, in a process of its own (so a drill
can SIGKILL it): python -m tests.faults.fake_worker DB_URL REDIS_URL PREFIX NAME [--burst]."""

from __future__ import annotations

import sys

import redis

from tests.faults import drills
from workers.worker import run_worker


def main(argv: list[str]) -> None:
    db_url, redis_url, prefix, name = argv[:4]
    engines = drills.Engines(answer_s=0.2)  # a shard takes a moment: time to kill it
    run_worker([drills.TARGET], drills.JUDGE, burst="--burst" in argv, name=name,
               engines=engines, connection=redis.Redis.from_url(redis_url), db_url=db_url,
               prefix=prefix)


if __name__ == "__main__":
    main(sys.argv[1:])
