"""A failing S3-compatible object store (loaded by sim.py as an extension).

The working object store of the local stack is s3rver (scripts/stack, MEDIA_BACKEND=s3); this
part stands in for one that fails, for the tests of the media backend's error handling
(tests/integration/test_media.py): with path-style addressing (S3_PATH_STYLE=1) and
S3_ENDPOINT at the simulator, the bucket "s3-fault" answers every GET, HEAD and PUT of an
object with 503 and S3's SlowDown error document, as an overloaded store does; the bucket
"s3-slow" answers only after SLOW_SECONDS (longer than the media backend's HEAD timeout), as a
store that hangs.  GET /__sim/stats counts those requests (s3fault_requests,
s3slow_requests); POST /__sim/reset zeroes the counts.
"""

import sys
import threading
import time

BUCKET = "s3-fault"
SLOW_BUCKET = "s3-slow"
SLOW_SECONDS = 8
MAX_OBJECT = 16 * 1024 * 1024


class S3Fault:
    def __init__(self, sim):
        self.core = sys.modules[type(sim).__module__]
        self.lock = threading.Lock()
        self.requests = 0
        self.slow_requests = 0

    def reset(self):
        with self.lock:
            self.requests = 0
            self.slow_requests = 0

    def slow(self, req):
        with self.lock:
            self.slow_requests += 1
        time.sleep(SLOW_SECONDS)
        return self.core.Response(404, b"", "application/xml")

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
    sim.add_stats(lambda: {"s3fault_requests": fault.requests,
                           "s3slow_requests": fault.slow_requests})
    sim.allow_body(f"/{BUCKET}/", MAX_OBJECT)
    sim.allow_body(f"/{SLOW_BUCKET}/", MAX_OBJECT)
    for method in ("GET", "HEAD", "PUT"):
        sim.route(method, f"/{BUCKET}/{{key*}}")(fault.object)
        sim.route(method, f"/{SLOW_BUCKET}/{{key*}}")(fault.slow)
