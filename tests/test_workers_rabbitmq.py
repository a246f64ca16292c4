"""RabbitMQ works by URL: the same pass through a worker on an ``amqp://`` broker (the running
RabbitMQ on 127.0.0.1:5672) gives the in-process summary, and status reads its queues."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from demo.generator import generate
from demo.server import DemoServer
from marketguard.distributed.app import QUEUES, make_app
from marketguard.distributed.config import WorkerConfig
from marketguard.distributed.status import queue_depths
from tests.workers import Worker, crawl_in_process, crawl_summary, wait_for_workers

AMQP = os.environ.get("MARKETGUARD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _rabbitmq_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _rabbitmq_answers(), reason="no RabbitMQ on 127.0.0.1:5672 (Redis is the default broker)"
)


def _purge(app: object) -> None:
    with app.connection_for_write() as conn:  # type: ignore[attr-defined]
        channel = conn.default_channel
        for queue in QUEUES:
            try:
                channel.queue_purge(queue)
            except Exception:  # not declared yet
                channel = conn.channel()


def test_a_pass_through_a_rabbitmq_worker_equals_the_in_process_pass(tmp_path: Path) -> None:
    market = generate(seed=3, listings=24, js_share=0.0)
    app = make_app(WorkerConfig(broker_url=AMQP))
    _purge(app)
    home = tmp_path / "workers"
    env = {"MARKETGUARD_BROKER_URL": AMQP, "MARKETGUARD_HOME": str(home)}
    worker = Worker(env, tmp_path / "worker.log", "--name", "amqp@test")
    try:
        wait_for_workers(app, 1)
        with DemoServer(market) as shop:
            a = crawl_in_process(shop.url, tmp_path / "single", "--no-capture")
            b = crawl_summary(shop.url, env, "--no-capture")
        depths = queue_depths(app)
    finally:
        worker.stop()
        _purge(app)
    for key in ("listings", "flagged", "errors", "by_rule"):
        assert b[key] == a[key], key
    assert a["flagged"] > 0
    assert set(depths) == set(QUEUES)
    assert all(depth.waiting == 0 for depth in depths.values())
