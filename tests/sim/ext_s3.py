"""A failing S3-compatible object store (loaded by sim.py as an extension).

The working object store of the local stack is s3rver (scripts/stack, MEDIA_BACKEND=s3); this
part stands in for one that fails, for the tests of the media backend's error handling
(tests/integration/test_media.py): with path-style addressing (S3_PATH_STYLE=1) and
S3_ENDPOINT at the simulator, the bucket "s3-fault" answers every GET, HEAD and PUT of an
object with 503 and S3's SlowDown error document, as an overloaded store does.  GET
/__sim/stats counts those requests (s3fault_requests); POST /__sim/reset zeroes the count.
"""

import sys
import threading

BUCKET = "s3-fault"
MAX_OBJECT = 16 * 1024 * 1024


class S3Fault:
    def __init__(self, sim):
        self.core = sys.modules[type(sim).__module__]
        self.lock = threading.Lock()
        self.requests = 0

    def reset(self):
        with self.lock:
            self.requests = 0

    def object(self, req):
        with self.lock:
            self.requests += 1
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                "<Message>Please reduce your request rate.</Message>"
                f"<Resource>{req.path}</Resource></Error>")
        return self.core.Response(503, body, "application/xml")


def register(sim):
    fault = S3Fault(sim)
    sim.on_reset(fault.reset)
    sim.add_stats(lambda: {"s3fault_requests": fault.requests})
    sim.allow_body(f"/{BUCKET}/", MAX_OBJECT)
    for method in ("GET", "HEAD", "PUT"):
        sim.route(method, f"/{BUCKET}/{{key*}}")(fault.object)
