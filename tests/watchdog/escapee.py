"""A function that leaves processes behind its invocation: what containment must end.

The request body says how (one word); see test_containment.py.
"""

from __future__ import annotations

import os
import sys
import time


def detach() -> bool:
    """In the child: a new session, fds away from the watchdog's pipes. False in the parent."""
    if os.fork():
        return False
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    return True


def daemon(then) -> None:
    """The classic double fork: setsid, fork again, the middle one exits at once."""
    if detach():
        if os.fork() == 0:
            then()
        os._exit(0)
    os.wait()  # the middle one is gone: the grandchild is an orphan already


def sleep_forever() -> None:
    time.sleep(300)
    os._exit(0)


def scrubbed() -> None:
    os.execve("/bin/sleep", ["sleep", "300"], {})  # no environment at all, no mark


def main() -> None:
    how = sys.stdin.read().strip()
    if how == "setsid":  # one fork and setsid; the function exits without waiting
        if detach():
            sleep_forever()
    elif how == "double-fork":
        daemon(sleep_forever)
    elif how == "scrubbed":
        daemon(scrubbed)
    elif how == "hang":  # an escapee, then a function that times out
        daemon(sleep_forever)
        time.sleep(300)
    elif how == "slow":  # an escapee this invocation still waits for
        marker = os.path.join(os.environ["TMPDIR"], f"written-{os.getpid()}")

        def write_later() -> None:
            time.sleep(1.0)
            with open(marker, "w") as f:
                f.write("written")
            os._exit(0)

        daemon(write_later)
        time.sleep(2.0)
        try:
            with open(marker) as f:
                print(f.read(), end="")
        except FileNotFoundError:
            print("killed", end="")
        return
    print(how, end="")


if __name__ == "__main__":
    main()
