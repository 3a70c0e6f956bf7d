"""A worker process for the multi-process tests: the real Worker on a database, with a recorded judge.

    python -m tests.monitor.worker_proc --db URL --owner A [--judge ok|slow] [--hold-after-claim S]

Prints ``claimed <n>`` (flushed) as soon as it holds a batch, and a JSON report when it is done.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

from llmmon.monitor.worker import Worker, WorkerConfig
from llmmon.storage.engine import make_engine
from tests.monitor.worker_support import Switchable, make_scorers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument("--judge-delay", type=float, default=0.0)
    parser.add_argument("--hold-after-claim", type=float, default=0.0)
    parser.add_argument("--clock-offset", type=float, default=0.0)
    args = parser.parse_args()

    def claimed(ids: list[str]) -> None:
        print(f"claimed {len(ids)}", flush=True)
        if args.hold_after_claim:
            time.sleep(args.hold_after_claim)

    engine = make_engine(args.db)
    scorers, http, _ = make_scorers(Switchable(up=True, delay_s=args.judge_delay))
    config = WorkerConfig(
        kb_name="support",
        batch_size=args.batch,
        lease_s=args.lease,
        judge_share=args.share,
        new_version_hours=0.0,
        clock_offset_s=args.clock_offset,
        owner=args.owner,
    )
    try:
        report = Worker(engine, config, scorers=scorers, on_batch_claimed=claimed).run_until_idle()
    finally:
        http.close()
        engine.dispose()
    print(json.dumps(asdict(report)), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
