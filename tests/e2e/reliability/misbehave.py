"""A function that misbehaves as asked: the last segment of its path says how.

Data for test_misbehaving_functions.py, not a sample: the suite deploys it as
one service of the stock watchdog image (fork mode) and sends
`/function/<name>/<how>`. Runs inside the container under Debian's python3;
standard library only.
"""

import contextlib
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


def hang() -> None:  # sleeps far past the exec timeout
    time.sleep(3600)


def crash() -> None:  # exits non-zero at once, the body unread
    os._exit(3)


def flood() -> None:  # stdout without end: far past the response limit
    chunk = b"x" * 65536
    while True:
        os.write(1, chunk)


def stderr() -> None:  # stderr without end
    chunk = b"e" * 4096 + b"\n"
    while True:
        os.write(2, chunk)


def forkbomb() -> None:  # every process forks for ever, errors or not
    while True:
        with contextlib.suppress(OSError):
            os.fork()


def memhog() -> None:  # touches memory 16 MiB at a time, past any limit
    held = []
    while True:
        held.append(b"m" * (16 << 20))


def setsid() -> None:  # a child in a session of its own outlives the handler
    if detach():
        time.sleep(3600)
        os._exit(0)
    os.write(1, b"left a setsid child")


def daemon() -> None:  # the classic double fork: the grandchild is an orphan at once
    if detach():
        if os.fork() == 0:
            time.sleep(3600)
        os._exit(0)
    os.wait()
    os.write(1, b"left a daemon")


def closestdin() -> None:  # closes stdin before the body is written, answers anyway
    os.close(0)
    os.write(1, b"closed stdin")


def echo() -> None:  # well behaved: the readiness check
    os.write(1, sys.stdin.buffer.read())


BEHAVIOURS = {f.__name__: f for f in (hang, crash, flood, stderr, forkbomb, memhog, setsid,
                                      daemon, closestdin, echo)}

if __name__ == "__main__":
    path = os.environ.get("Http_Path", "")  # noqa: SIM112 (the watchdog's CGI name)
    how = path.rstrip("/").rpartition("/")[2]
    BEHAVIOURS.get(how, echo)()
