"""The queue in front of full replicas on the real swarm: a sidecar service and a
function service (the echo image, ``max_inflight=1`` in its service environment,
where the sidecar reads it), calls through the sidecar's published port.

Everything is named ``scq<pid>-*`` and removed after.
"""

from __future__ import annotations

import os
import threading
import time

import httpx
import pytest
from sidecar_swarm import (
    build_images,
    create_function,
    docker,
    free_port_in,
    remove,
    start_sidecar,
    swarm_ready,
    wait_until,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PREFIX = f"scq{os.getpid()}"
NETWORK, SIDECAR, FUNCTION = f"{PREFIX}-net", f"{PREFIX}-sidecar", f"{PREFIX}-q"


@pytest.fixture(scope="module")
def base():
    why = swarm_ready()
    if why:
        pytest.skip(why)
    build_images()
    port = free_port_in(range(18481, 18490))
    docker("network", "create", "--driver", "overlay", "--attachable", NETWORK)
    try:
        start_sidecar(SIDECAR, NETWORK, port, docker_dir="/var/run")
        create_function(FUNCTION, NETWORK, env={"max_inflight": "1"},
                        labels={"swarmfaas.function": "true", "swarmfaas.queue.wait": "10"})
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/function/{FUNCTION}/").status_code == 200, 120,
                   "the function routable through the sidecar", interval=0.2)
        yield url
    finally:
        remove(FUNCTION, SIDECAR)
        for _ in range(20):
            if docker("network", "rm", NETWORK, check=False):
                break
            time.sleep(0.5)


def post(base: str, path: str, body: str, timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{base}/function/{FUNCTION}{path}", content=body, timeout=timeout)


def test_the_queue_serves_calls_in_arrival_order(base):
    answered: list[tuple[str, int]] = []
    lock = threading.Lock()

    def call(body: str, path: str) -> None:
        response = post(base, path, body)
        with lock:
            answered.append((body, response.status_code))

    threads = [threading.Thread(target=call, args=("long", "/sleep/1.5"))]
    threads[0].start()
    time.sleep(0.4)  # the one slot is taken: the next calls queue
    for index in range(1, 6):
        threads.append(threading.Thread(target=call, args=(str(index), "/sleep/0.1")))
        threads[-1].start()
        time.sleep(0.1)
    for thread in threads:
        thread.join(60)
    assert answered == [(b, 200) for b in ("long", "1", "2", "3", "4", "5")], answered


def test_a_client_that_left_the_queue_never_reaches_the_function(base):
    # The slot is busy for 2 s; a client that would take it for 2 s more leaves
    # after 0.5 s in the queue; the call queued behind it goes at the 2 s mark,
    # not at 4 s.
    started = time.monotonic()
    long = threading.Thread(target=post, args=(base, "/sleep/2", "long"))
    long.start()
    time.sleep(0.3)
    after: dict[str, float] = {}

    def behind() -> None:
        time.sleep(0.1)  # queued after the one that leaves
        response = post(base, "/sleep/0", "behind")
        assert response.status_code == 200
        after["answered"] = time.monotonic() - started

    follower = threading.Thread(target=behind)
    follower.start()
    with pytest.raises(httpx.TimeoutException):
        post(base, "/sleep/2", "left", timeout=0.5)
    follower.join(30)
    long.join(30)
    assert 1.9 <= after["answered"] < 3.3, after
    text = httpx.get(f"{base}/metrics").text
    assert (f'swarmfaas_queue_dropped_total{{cause="left",function_name="{FUNCTION}"}} 1.0'
            in text)
