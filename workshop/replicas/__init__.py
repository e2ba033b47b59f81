"""Chapter 8: replicated data — the event store on a Patroni cluster, Redis under Sentinel."""
