"""The body of every system's ``mark(path, label)`` task: note when it ran."""

import time


def write_mark(path: str, label: str) -> None:
    now = time.time()
    with open(path, "a") as f:
        f.write(f"{label} {now!r}\n")
