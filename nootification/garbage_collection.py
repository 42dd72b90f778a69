"""Python's cyclic garbage collector in a long-running process: what it need not scan again."""

import gc


def freeze_start_up_objects() -> None:
    """Collect once, then move every object alive so far out of the collector's reach for good.

    A loaded application is ~170,000 objects (modules, mappers, schemas, templates, the catalog) that live as
    long as the process. Each full collection scanned them all again: 80-100 ms with the interpreter held, on
    one request or one sending slot in every few dozen. Frozen, a full collection scans only what requests and
    jobs made since (a few ms). Call it once a process has built its application, before it serves or works.
    """
    gc.collect()
    gc.freeze()
