"""Summarise a py-spy raw profile (``py-spy record --format raw --idle``) as text.

    python -m bench.profile_summary bench/results/profile/ingest-events.txt [--top 30]

Only the event-loop thread counts (stacks through ``run_forever``; helper threads that sleep
would dilute everything). Prints, as a share of its samples: time idle in the selector
(waiting on PostgreSQL or Kafka), and the frames with the most inclusive ("in this call or
below") and self time. Frames are ``function (file)`` without line numbers.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE_NO = re.compile(r":\d+\)$")
LOOP_FRAME = "BaseEventLoop.run_forever (asyncio/base_events.py)"


def frame_name(frame: str) -> str:
    return _LINE_NO.sub(")", frame.strip())


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame_name(f) for f in stack.split(";")]
        if count.isdigit() and LOOP_FRAME in frames:
            stacks.append((frames, int(count)))
    return stacks


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(n for _, n in stacks) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    idle = 0
    for frames, n in stacks:
        for name in set(frames):
            inclusive[name] += n
        own[frames[-1]] += n
        if frames[-1].endswith("Selector.select (selectors.py)"):
            idle += n
    out = [f"{total} samples; idle in the event loop {100 * idle / total:.1f}%", "",
           "inclusive %  frame"]
    shared = [name for name, n in inclusive.items() if n == total]  # the loop's own frames
    for name in shared:
        del inclusive[name]
    out += [f"{100 * n / total:10.1f}  {name}" for name, n in inclusive.most_common(top)]
    out += ["", "self %      frame"]
    out += [f"{100 * n / total:10.1f}  {name}" for name, n in own.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary", description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    print(summarise(load(args.path), args.top))


if __name__ == "__main__":
    main()
