"""Monitoring: what the service tells of its own state; it reads the domain, and nothing below imports it.

health       whether the service can deliver: its database, Redis, a live worker, the scheduler
metrics      the collector of state gauges read at each scrape (queue, workers, breakers, dead letters...)
"""
