"""Scheduled functions (``swarmfaas.schedule`` labels), pure.

A schedule is a five-field cron expression (or a nickname such as
``@hourly``) read in a time zone: ``CRON_TZ=Europe/Berlin 0 9 * * 1-5``,
UTC when none is named. cronsim does the calendar arithmetic (day-of-month
OR day-of-week, daylight-saving gaps and folds); this module adds the
platform's rules around it:

- **Missed ticks.** ``due`` looks at the ticks between the last look and now.
  Only the newest of them runs, and only while it is at most ``catch_up``
  seconds old; the older ones are counted as missed and never run. A
  scheduler that was down for an hour therefore runs once, not sixty times.
- **Once per tick.** Every tick has one id (``tick_id``), the same in every
  sidecar replica and worker that computes it. The async path stores an
  invocation under that id, and the broker drops a second message with an id
  it has seen within its duplicate window, which is longer than the longest
  catch-up (``MAX_CATCH_UP``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .labels import SCHEDULE, SCHEDULE_CATCH_UP, LabelError

DEFAULT_CATCH_UP = 60.0  # seconds a missed tick may still run late
MAX_CATCH_UP = 3600.0  # the broker's duplicate window must be longer than this
ZONE_PREFIXES = ("CRON_TZ=", "TZ=")

# The usual nicknames, as cron expressions (@reboot has no meaning here).
NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True, slots=True)
class Schedule:
    expression: str  # five cron fields, a nickname already expanded
    zone: str  # an IANA time zone name
    catch_up: float = DEFAULT_CATCH_UP  # seconds; see ``due``


def parse_schedule(labels: Mapping[str, str]) -> Schedule | None:
    """None when the function has no schedule; LabelError when a value is bad."""
    raw = labels.get(SCHEDULE)
    if raw is None:
        if SCHEDULE_CATCH_UP in labels:
            raise LabelError(f"{SCHEDULE_CATCH_UP} is set but {SCHEDULE} is not")
        return None
    text = " ".join(raw.split())
    zone = "UTC"
    first, _, rest = text.partition(" ")
    for prefix in ZONE_PREFIXES:
        if first.startswith(prefix):
            zone, text = first[len(prefix):], rest
            break
    expression = NICKNAMES.get(text.lower(), text)
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise LabelError(f"{SCHEDULE}={raw!r}: unknown time zone {zone!r} "
                         f"(an IANA name such as Europe/Berlin)") from None
    try:
        if len(expression.split()) != 5:  # cronsim would take seconds as a sixth
            raise CronSimError("Wrong number of fields")
        CronSim(expression, datetime(2000, 1, 1, tzinfo=tz))
    except CronSimError as exc:
        raise LabelError(f"{SCHEDULE}={raw!r}: {exc} (expected five cron fields, "
                         f"optionally after CRON_TZ=<zone>, or a nickname such as "
                         f"@hourly)") from None
    return Schedule(expression, zone, _catch_up(labels))


def _catch_up(labels: Mapping[str, str]) -> float:
    raw = labels.get(SCHEDULE_CATCH_UP)
    if raw is None:
        return DEFAULT_CATCH_UP
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_CATCH_UP:  # also refuses NaN
        raise LabelError(f"{SCHEDULE_CATCH_UP}={raw!r}: expected seconds in "
                         f"[0, {MAX_CATCH_UP:g}]")
    return value


def ticks_after(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` ticks strictly after ``after`` (an aware datetime),
    in UTC."""
    sim = CronSim(schedule.expression, after.astimezone(ZoneInfo(schedule.zone)))
    return [next(sim).astimezone(UTC) for _ in range(count)]


@dataclass(frozen=True, slots=True)
class Due:
    tick: datetime | None  # the one tick to run now, if any
    missed: int  # ticks in the interval that will never run


def due(schedule: Schedule, last: datetime, now: datetime) -> Due:
    """What to run for the ticks in (``last``, ``now``]: the newest, if it is
    at most ``catch_up`` seconds old; the others are missed."""
    newest: datetime | None = None
    seen = 0
    for tick in CronSim(schedule.expression, last.astimezone(ZoneInfo(schedule.zone))):
        if tick > now:
            break
        newest = tick
        seen += 1
    if newest is None:
        return Due(None, 0)
    if now - newest <= timedelta(seconds=schedule.catch_up):
        return Due(newest.astimezone(UTC), seen - 1)
    return Due(None, seen)


def tick_id(function: str, tick: datetime) -> str:
    """The one id of a function's tick, the same in every process that
    computes it (UTC, whole seconds)."""
    return f"schedule:{function}:{tick.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
