"""Chapter 7: scale out, and survive a dead broker — a RabbitMQ cluster on this machine.

* :mod:`~workshop.cluster.nodes` — a throw-away three-node cluster (:class:`Cluster`), its
  status, where each queue's leader lives, and the faults: kill, freeze, restart;
* :mod:`~workshop.cluster.faults` — chapter 1's order system on that cluster with a node
  killed or frozen mid-run, counted: orders lost or stalled, charged twice, events reordered;
  and the pause a publisher and a consumer see while their node dies;
* :mod:`~workshop.cluster.ordering` — competing consumers reorder one order's events;
  partitions (the consistent-hash exchange + single active consumer) keep them in order.

The bus that fails over is chapter 1's, with options: ``RabbitBus.open(s, urls=cluster.urls,
queue_type="quorum")`` (see :mod:`workshop.bus.failover`).
"""

from workshop.cluster.nodes import Cluster, Node
from workshop.infra.throwaway import cluster_nodes as leftover_nodes

__all__ = ["Cluster", "Node", "leftover_nodes"]
