"""swarmfaas.schedule: parsing, ticks in a time zone, the missed-tick policy,
the one id per tick (sidecar/faas_sidecar/schedule.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from faas_sidecar.labels import SCHEDULE, SCHEDULE_CATCH_UP, LabelError
from faas_sidecar.schedule import (
    DEFAULT_CATCH_UP,
    Due,
    Schedule,
    due,
    parse_schedule,
    tick_id,
    ticks_after,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("labels", "want"), [
    ({}, None),
    ({SCHEDULE: "*/5 * * * *"}, Schedule("*/5 * * * *", "UTC")),
    ({SCHEDULE: "  0   9 * *  1-5 "}, Schedule("0 9 * * 1-5", "UTC")),
    ({SCHEDULE: "CRON_TZ=Europe/Berlin 0 9 * * 1-5"}, Schedule("0 9 * * 1-5", "Europe/Berlin")),
    ({SCHEDULE: "TZ=America/New_York @daily"}, Schedule("0 0 * * *", "America/New_York")),
    ({SCHEDULE: "@hourly"}, Schedule("0 * * * *", "UTC")),
    ({SCHEDULE: "@Weekly"}, Schedule("0 0 * * 0", "UTC")),
    ({SCHEDULE: "0 0 1 jan *"}, Schedule("0 0 1 jan *", "UTC")),
    ({SCHEDULE: "* * * * *", SCHEDULE_CATCH_UP: "0"}, Schedule("* * * * *", "UTC", 0.0)),
    ({SCHEDULE: "* * * * *", SCHEDULE_CATCH_UP: "3600"}, Schedule("* * * * *", "UTC", 3600.0)),
])
def test_parse(labels, want):
    assert parse_schedule(labels) == want


@pytest.mark.parametrize(("labels", "names"), [
    ({SCHEDULE: ""}, SCHEDULE),
    ({SCHEDULE: "* * * *"}, SCHEDULE),                   # four fields
    ({SCHEDULE: "* * * * * *"}, SCHEDULE),               # seconds are not cron here
    ({SCHEDULE: "61 * * * *"}, SCHEDULE),
    ({SCHEDULE: "@reboot"}, SCHEDULE),                   # no meaning for a service
    ({SCHEDULE: "CRON_TZ=Mars/Olympus * * * * *"}, "Mars/Olympus"),
    ({SCHEDULE: "CRON_TZ=../../etc/passwd * * * * *"}, SCHEDULE),
    ({SCHEDULE: "* * * * *", SCHEDULE_CATCH_UP: "-1"}, SCHEDULE_CATCH_UP),
    ({SCHEDULE: "* * * * *", SCHEDULE_CATCH_UP: "3601"}, SCHEDULE_CATCH_UP),
    ({SCHEDULE: "* * * * *", SCHEDULE_CATCH_UP: "nan"}, SCHEDULE_CATCH_UP),
    ({SCHEDULE: "* * * * *", SCHEDULE_CATCH_UP: "soon"}, SCHEDULE_CATCH_UP),
    ({SCHEDULE_CATCH_UP: "30"}, SCHEDULE),               # a catch-up with nothing to catch
])
def test_bad_labels_name_the_label(labels, names):
    with pytest.raises(LabelError, match=names.replace(".", r"\.").replace("/", ".")):
        parse_schedule(labels)


def test_default_catch_up():
    assert parse_schedule({SCHEDULE: "* * * * *"}).catch_up == DEFAULT_CATCH_UP


@pytest.mark.parametrize(("text", "after", "want"), [
    # strictly after: a tick at `after` itself is not next
    ("*/15 * * * *", utc(2026, 12, 7, 10, 0), [utc(2026, 12, 7, 10, 15), utc(2026, 12, 7, 10, 30)]),
    # weekdays at 09:00 Berlin: Friday, then Monday; CET is UTC+1
    ("CRON_TZ=Europe/Berlin 0 9 * * 1-5", utc(2026, 12, 4, 0, 0),
     [utc(2026, 12, 4, 8, 0), utc(2026, 12, 7, 8, 0)]),
    # across the spring change in Berlin (29 March 2026): 09:00 is 08:00 UTC, then 07:00
    ("CRON_TZ=Europe/Berlin 0 9 * * *", utc(2026, 3, 28, 12, 0),
     [utc(2026, 3, 29, 7, 0), utc(2026, 3, 30, 7, 0)]),
    # 02:30 does not exist on 29 March in Berlin: it runs once, at 03:00 local
    ("CRON_TZ=Europe/Berlin 30 2 * * *", utc(2026, 3, 28, 12, 0),
     [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]),
    # day-of-month OR day-of-week, as cron has it: the 13th, or any Friday
    ("0 0 13 * 5", utc(2026, 11, 9, 0, 0), [utc(2026, 11, 13, 0, 0), utc(2026, 11, 20, 0, 0)]),
])
def test_ticks_after(text, after, want):
    schedule = parse_schedule({SCHEDULE: text})
    assert ticks_after(schedule, after, len(want)) == want


EVERY_MINUTE = Schedule("* * * * *", "UTC", 60.0)
HOURLY = Schedule("0 * * * *", "UTC", 60.0)


@pytest.mark.parametrize(("schedule", "last", "now", "want"), [
    # nothing due yet
    (EVERY_MINUTE, utc(2026, 1, 1, 10, 0, 0), utc(2026, 1, 1, 10, 0, 59), Due(None, 0)),
    # the tick at now runs (the interval is (last, now])
    (EVERY_MINUTE, utc(2026, 1, 1, 10, 0, 0), utc(2026, 1, 1, 10, 1, 0),
     Due(utc(2026, 1, 1, 10, 1), 0)),
    # the tick at last already ran: not again
    (EVERY_MINUTE, utc(2026, 1, 1, 10, 1, 0), utc(2026, 1, 1, 10, 1, 30), Due(None, 0)),
    # a late look, within catch-up: the tick runs
    (HOURLY, utc(2026, 1, 1, 9, 59), utc(2026, 1, 1, 10, 0, 59), Due(utc(2026, 1, 1, 10), 0)),
    # too late: missed, never run
    (HOURLY, utc(2026, 1, 1, 9, 59), utc(2026, 1, 1, 10, 1, 1), Due(None, 1)),
    # down for ten minutes: only the newest runs, nine are missed
    (EVERY_MINUTE, utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 10, 10, 5),
     Due(utc(2026, 1, 1, 10, 10), 9)),
    # catch-up 0: only a tick exactly at now runs
    (Schedule("* * * * *", "UTC", 0.0), utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 10, 1, 0, 1),
     Due(None, 1)),
])
def test_due(schedule, last, now, want):
    assert due(schedule, last, now) == want


def test_every_process_names_a_tick_alike():
    berlin = ticks_after(parse_schedule({SCHEDULE: "CRON_TZ=Europe/Berlin 0 9 * * *"}),
                         utc(2026, 12, 6), 1)[0]
    assert tick_id("report", berlin) == "schedule:report:2026-12-06T08:00:00Z"
    assert tick_id("report", berlin) == tick_id("report", berlin.astimezone())
    assert tick_id("report", berlin) != tick_id("other", berlin)
