"""Chapter 7: a three-node RabbitMQ cluster on this machine, and the faults it survives — counted.

One throw-away cluster serves the whole module (starting one takes 20-60 s on a busy machine);
each fault leaves every node running again. The cluster is always torn down, and the module
checks that no node process is left behind.
"""

from __future__ import annotations

import math
import socket

import pytest

from workshop.cluster import Cluster, leftover_nodes
from workshop.cluster.faults import failover_pause, orders_under_fault
from workshop.errors import WorkshopError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    pids: list[int | None] = []
    try:
        c.start()
        pids = [n.pid for n in c.nodes]
        yield c
    finally:
        c.stop()
        left = set(leftover_nodes()) & set(pids)
        assert not left, f"cluster node processes left running: {left}"


@pytest.mark.timeout(300)
async def test_three_nodes_run_as_one_cluster_and_show_where_a_queue_leads(cluster, ws_settings):
    from workshop.bus.rabbitmq import RabbitBus

    status = await cluster.status()
    assert status["members"] == sorted(n.name for n in cluster.nodes)
    assert status["running"] == status["members"] and not status["partitions"]
    bus = await RabbitBus.open(ws_settings, urls=cluster.urls, queue_type="quorum", delivery_limit=3)
    try:

        async def nothing(event, delivery):
            return None

        await bus.subscribe("payment", ["order.*"], nothing, retry=None)
        info = await cluster.queue(ws_settings.namespace.amqp("payment"))
        assert info["type"] == "quorum" and sorted(info["members"]) == status["members"]
        assert info["arguments"]["x-delivery-limit"] == 3
        assert await cluster.leader(ws_settings.namespace.amqp("payment")) in status["members"]
    finally:
        await bus.close()
    memory = cluster.memory()
    assert all(50 < mib < 2000 for mib in memory.values()), memory


@pytest.mark.timeout(300)
async def test_quorum_queue_leader_killed_under_load_loses_nothing_and_charges_nothing_twice(cluster, ws_settings):
    run = await orders_under_fault(cluster, ws_settings, queue_type="quorum", fault="kill", orders=150, deadline=90)
    print(run)
    assert (run.stalled, run.lost, run.charged_twice, run.inconsistent) == (0, 0, 0, 0), run
    assert run.completed == run.orders == 150
    assert run.leader_after and run.leader_after != run.leader_before  # RabbitMQ elected another leader


@pytest.mark.timeout(300)
async def test_classic_queue_on_a_killed_node_stalls_the_orders_until_the_node_returns(cluster, ws_settings):
    run = await orders_under_fault(
        cluster, ws_settings, queue_type="classic", fault="kill", orders=120, deadline=15, recover=60
    )
    print(run)
    assert run.stalled > 0, run  # the queue lived on one node: nothing moves while it is down
    assert run.leader_after == run.leader_before  # a classic queue never moves
    assert run.lost < run.stalled, run  # most of them move again once the node is back (the outbox kept them)
    assert (run.charged_twice, run.inconsistent) == (0, 0), run


@pytest.mark.timeout(300)
async def test_a_frozen_node_loses_nothing(cluster, ws_settings):
    run = await orders_under_fault(
        cluster, ws_settings, queue_type="quorum", fault="freeze", orders=120, freeze_for=15, deadline=90
    )
    print(run)
    assert (run.stalled, run.lost, run.charged_twice, run.inconsistent) == (0, 0, 0, 0), run


@pytest.mark.timeout(300)
async def test_a_client_fails_over_to_another_node_and_its_pause_is_measured(cluster, ws_settings):
    pause = await failover_pause(cluster, ws_settings, messages=200, rate=50)
    print(pause)
    assert pause.messages == 200 and pause.lost == 0, pause
    assert not math.isnan(pause.flowing_again_s) and pause.flowing_again_s < 30, pause
    assert pause.max_ms > pause.p50_ms  # the publishes across the kill waited for the switch


@pytest.mark.timeout(300)
async def test_partitions_keep_each_orders_events_in_order_where_competing_consumers_do_not(cluster, ws_settings):
    from workshop.bus.failover import connect_failover
    from workshop.cluster.ordering import competing, partitioned

    connection = await connect_failover(cluster.urls)
    try:
        mixed = await competing(connection, ws_settings, consumers=3, orders=100)
        kept = await partitioned(connection, ws_settings, partitions=3, orders=100)
    finally:
        await connection.close()
    print(mixed, kept, sep="\n")
    assert mixed.lost == 0 and mixed.reordered > 0, mixed
    assert (kept.lost, kept.doubled, kept.reordered) == (0, 0, 0), kept


def test_a_taken_port_is_one_line_naming_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(WorkshopError) as err:
            Cluster(ports=[port]).start()
    message = str(err.value)
    assert f"port {port} is taken" in message and "\n" not in message
