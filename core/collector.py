"""The cyclic garbage collector, held off while a request builds big structures it cannot free.

A statement of 100,000 chips allocates some millions of objects (its parsed chips, their resolution, the
rows it writes), nearly all freed by reference counting alone. The collector cannot know that: each time
the young objects outnumber the old ones by a quarter it walks every live object again, and those full
collections cost a complete 100,000-chip statement about 0.2 s of 2.9 s (measured in process, with what
the worker loaded before its first request frozen out of the collector's reach, as config/wsgi.py does).
"""

import gc
from contextlib import contextmanager


@contextmanager
def paused():
    """The collector off for the enclosed work, as it was after (also on an exception).

    Reference counting still frees everything that forms no cycle; the few cycles made meanwhile wait for
    the next collection after the work. The switch is the process's: in a threaded server, a request that
    starts while another has it off leaves it alone, and the one that turned it off turns it on again, so
    it is never left off; a concurrent request may run with it off for a while, or on before its end."""
    if not gc.isenabled():  # nested, or disabled by the process: leave it to its owner
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
