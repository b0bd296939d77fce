"""Summarise py-spy's collapsed stacks (`livegate bench --paced --profile DIR`).

    python scripts/profile_summary.py FILE [--top N] [--match TEXT]

Prints the share of samples per function, inclusive (the function or anything it called)
and self (the function itself), heaviest first; --match keeps only frames containing TEXT.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")


def frame_name(frame: str) -> str:
    # py-spy frames: "function (path/to/file.py:LINE)"; the line varies, the function not.
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("file", type=Path)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--match", default="")
    args = p.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in args.file.read_text().splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        frames = [frame_name(f) for f in m.group(1).split(";") if f]
        n = int(m.group(2))
        total += n
        for f in set(frames):
            inclusive[f] += n
        if frames:
            own[frames[-1]] += n
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        shown = 0
        for f, n in counter.most_common():
            if args.match in f:
                print(f"{n / total:7.1%}  {f}")
                shown += 1
                if shown >= args.top:
                    break


if __name__ == "__main__":
    main()
