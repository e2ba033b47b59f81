"""Entry points: what a learner, a test or compose starts as a process — and nothing else.

Each module reads its command line, opens what the process needs, and hands an
``async def main(stop)`` to :func:`workshop.process.run`, the one way a course process
runs (signals, a graceful stop within a deadline, one-line errors, logging). The code
that does the work lives in the chapters' packages; these files only wire it up:

    python -m workshop.run.orders payment            # chapter 1: order, payment, inventory, shipping, notification
    python -m workshop.run.pubsub subscriber          # chapter 2: publisher, subscriber, consumer
    python -m workshop.run.cqrs projectors            # chapter 4: relay, projectors, write-api, read-api
    python -m workshop.run.signaling                  # chapter 5: the signaling server
"""
