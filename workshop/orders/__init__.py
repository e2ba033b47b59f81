"""Chapter 1: the course's e-commerce order system, five services over RabbitMQ.

Read in this order:

* :mod:`~workshop.orders.domain`   — the saga's decisions as pure functions (event in, events out);
* :mod:`~workshop.orders.schemas`  — one pydantic schema per event type and version, routing keys;
* :mod:`~workshop.orders.service`  — what every service does per event: inbox → handle → outbox, one transaction;
* :mod:`~workshop.orders.order`, :mod:`~workshop.orders.payment`, :mod:`~workshop.orders.inventory`,
  :mod:`~workshop.orders.shipping`, :mod:`~workshop.orders.notification` — the five services;
* :mod:`~workshop.orders.inbox`, :mod:`~workshop.orders.outbox` — idempotency and the transactional outbox;
* :mod:`~workshop.orders.api`      — the course's ``POST /orders`` with FastAPI;
* :mod:`~workshop.orders.system`   — all five in one event loop (a notebook);
  :mod:`~workshop.orders.processes` — as separate processes;
* :mod:`~workshop.orders.course`, :mod:`~workshop.orders.crashdemo` — the course's code, kept to be measured.
"""
