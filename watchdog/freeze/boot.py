"""The first module the binary runs (launcher.c starts `python3 -c "import _fwatchdog_boot"`).

The launcher put the extension modules into memfds and passes their table as
the first argument, `name=fd,...`: a finder on sys.meta_path loads them from
/proc/self/fd/N, since the tmpfs they could be unpacked to is noexec. Then
every memfd is made close-on-exec, so the function's processes inherit none,
and the watchdog runs with the arguments it was given.
"""

import os
import sys
from importlib.machinery import ExtensionFileLoader, ModuleSpec


class MemfdExtensions:
    """A meta path finder for the extension modules the launcher loaded into memfds."""

    def __init__(self, table: dict[str, int]) -> None:
        self.table = table

    def find_spec(self, name, path=None, target=None):
        fd = self.table.get(name)
        if fd is None:
            return None
        origin = f"/proc/self/fd/{fd}"
        return ModuleSpec(name, ExtensionFileLoader(name, origin), origin=origin)


def parse_table(arg: str) -> dict[str, int]:
    table = {}
    for item in filter(None, arg.split(",")):
        name, _, fd = item.partition("=")
        table[name] = int(fd)
    return table


def close_memfds_on_exec() -> None:
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("/memfd:"):
                os.set_inheritable(int(name), False)
        except OSError:
            pass  # the listing's own descriptor, closed by now


# argv[0] (the launcher's --argv0) is <bundle>/bin/python3: anything else
# means Python took its library from elsewhere, e.g. the image's own.
if os.path.dirname(os.path.dirname(sys.executable)) != sys.prefix:
    sys.exit(f"fwatchdog: the bundled Python found its library at {sys.prefix}, not its own")
sys.meta_path.insert(0, MemfdExtensions(parse_table(sys.argv.pop(1))))
close_memfds_on_exec()

from fwatchdog.__main__ import run  # noqa: E402  (after the finder, which it needs)

run()
