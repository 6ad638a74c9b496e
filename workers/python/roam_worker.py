"""roam_worker: the Python side of roam's capability worker protocol.

A capability author writes a class and calls ``serve``; this module speaks
the protocol (docs/capabilities.md) with the standard library only.

    from roam_worker import Capability, method, serve, UserInputError

    class Echo(Capability):
        name = "echo-py"
        version = "1.0.0"

        @method
        def echo(self, args, call):
            return args

    serve(Echo())

A method gets its JSON ``args`` and a ``Call``: ``call.progress(fraction,
message, partial)`` reports progress, ``call.check_cancel()`` raises
``Cancelled`` once the host cancelled the call.
"""

import json
import os
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROTOCOL = 1
MAX_BODY = 64 * 1024 * 1024


class CapabilityError(Exception):
    """A failure with a category that tells the host whether a retry can help."""

    category = "fatal"

    def __init__(self, message, **data):
        super().__init__(message)
        self.message = message
        self.data = data


class UserInputError(CapabilityError):
    """The arguments or config are wrong: a retry gives the same answer."""

    category = "user_input"


class TransientError(CapabilityError):
    """Something passing went wrong (a busy device, a network blip): retrying may help."""

    category = "transient"


class ResourceError(CapabilityError):
    """Not enough memory, VRAM or disk; pass shortfall={"resource":..,"needed":..,"available":..}."""

    category = "resource"


class FatalError(CapabilityError):
    """The capability cannot do this here (a missing library, a bug)."""

    category = "fatal"


class Cancelled(Exception):
    """Raised by ``Call.check_cancel`` once the host cancelled the call."""


def method(fn):
    """Mark ``fn(self, args, call)`` as a method callers may run."""
    fn._roam_method = True
    return fn


class Call:
    """One running call: its id, progress reporting and cancellation."""

    def __init__(self, call_id, emit=None):
        self.id = call_id
        self._emit = emit
        self._cancelled = threading.Event()

    @property
    def cancelled(self):
        return self._cancelled.is_set()

    def check_cancel(self):
        """Raise ``Cancelled`` when the host cancelled this call."""
        if self._cancelled.is_set():
            raise Cancelled("cancelled by the host")

    def wait(self, seconds):
        """Sleep up to ``seconds``, waking (and raising ``Cancelled``) at a cancel."""
        if self._cancelled.wait(seconds):
            raise Cancelled("cancelled by the host")

    def progress(self, fraction=None, message=None, partial=None):
        """Report progress (0..1), words, or a partial result (streamed calls only)."""
        if self._emit is None:
            return
        line = {"type": "progress"}
        if fraction is not None:
            line["fraction"] = max(0.0, min(1.0, float(fraction)))
        if message is not None:
            line["message"] = str(message)
        if partial is not None:
            line["partial"] = partial
        self._emit(line)


class Capability:
    """Base class of a capability. Override what you need."""

    name = "capability"
    version = "0.0.0"
    config_schema = None

    def initialize(self, config):
        """Load models and the like; ``config`` is the instance's JSON config."""
        self.config = config

    def reconfigure(self, config):
        """Take a new config without a restart; by default initialize again."""
        self.initialize(config)

    def shutdown(self):
        """Release what initialize took; called once before the process exits."""

    def methods(self):
        names = []
        for name in dir(type(self)):
            if getattr(getattr(type(self), name, None), "_roam_method", False):
                names.append(name)
        return sorted(names)


def categorize(error):
    """The wire form of an exception: category, message, type and traceback."""
    if isinstance(error, CapabilityError):
        category, data = error.category, error.data
    else:
        data = {}
        kind = type(error).__name__
        if isinstance(error, (KeyError, ValueError, TypeError, FileNotFoundError, PermissionError)):
            category = "user_input"
        elif isinstance(error, MemoryError) or "OutOfMemory" in kind:
            category = "resource"
        elif isinstance(error, (TimeoutError, ConnectionError, InterruptedError)):
            category = "transient"
        else:
            category = "fatal"
    body = {
        "category": category,
        "message": str(error) or type(error).__name__,
        "type": type(error).__name__,
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__))[-8000:],
    }
    if data:
        body["data"] = data
    return body


class _Worker:
    def __init__(self, capability, token, concurrency):
        self.capability = capability
        self.token = token
        self.calls = {}
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(max(1, concurrency))
        self.initialized = False
        self.server = None

    def run(self, method_name, args, call):
        fn = getattr(self.capability, method_name, None)
        if method_name.startswith("_") or not getattr(fn, "_roam_method", False):
            raise UserInputError(
                "%s has no method %r; it has: %s"
                % (self.capability.name, method_name, ", ".join(self.capability.methods()))
            )
        with self.lock:
            if call.id in self.calls:
                raise UserInputError("a call with id %r is running already" % call.id)
            self.calls[call.id] = call
        try:
            with self.slots:
                call.check_cancel()
                return fn(args, call)
        finally:
            with self.lock:
                self.calls.pop(call.id, None)


def _handler(worker):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self):
            if self.headers.get("Authorization") == "Bearer " + worker.token:
                return True
            self._send(401, {"error": {"category": "fatal", "message": "wrong or missing worker token"}})
            return False

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise UserInputError("request body over %d bytes" % MAX_BODY)
            raw = self.rfile.read(length) if length else b"{}"
            value = json.loads(raw or b"{}")
            if not isinstance(value, dict):
                raise UserInputError("the request body must be a JSON object")
            return value

        def do_GET(self):
            if not self._authorized():
                return
            cap = worker.capability
            if self.path == "/health":
                self._send(200, {"status": "ok", "pid": os.getpid(), "initialized": worker.initialized})
            elif self.path == "/info":
                self._send(200, {
                    "protocol": PROTOCOL, "name": cap.name, "version": cap.version,
                    "methods": cap.methods(), "runtime": "python " + sys.version.split()[0],
                })
            elif self.path == "/config-schema":
                self._send(200, {"schema": cap.config_schema})
            else:
                self._send(404, {"error": {"category": "user_input", "message": "no endpoint " + self.path}})

        def do_POST(self):
            if not self._authorized():
                return
            try:
                body = self._body()
            except Exception as error:  # noqa: BLE001 - reported to the host
                self._send(400, {"error": categorize(error)})
                return
            path = self.path
            if path == "/execute":
                self._execute(body)
            elif path == "/execute/stream":
                self._stream(body)
            elif path == "/cancel":
                with worker.lock:
                    call = worker.calls.get(body.get("callId"))
                if call is not None:
                    call._cancelled.set()
                self._send(200, {"cancelled": call is not None})
            elif path in ("/initialize", "/reconfigure"):
                try:
                    config = body.get("config") or {}
                    if path == "/initialize":
                        worker.capability.initialize(config)
                    else:
                        worker.capability.reconfigure(config)
                    worker.initialized = True
                    self._send(200, {"status": "ok"})
                except Exception as error:  # noqa: BLE001
                    self._send(500, {"error": categorize(error)})
            elif path == "/shutdown":
                self._send(200, {"status": "ok"})
                threading.Thread(target=_stop, args=(worker,), daemon=True).start()
            else:
                self._send(404, {"error": {"category": "user_input", "message": "no endpoint " + path}})

        def _execute(self, body):
            call = Call(str(body.get("callId") or ""))
            try:
                result = worker.run(str(body.get("method") or ""), body.get("args"), call)
                self._send(200, {"result": result})
            except Cancelled as error:
                self._send(409, {"error": {"category": "transient", "message": str(error), "cancelled": True}})
            except Exception as error:  # noqa: BLE001
                self._send(500, {"error": categorize(error)})

        def _stream(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            write_lock = threading.Lock()

            def emit(line):
                data = (json.dumps(line) + "\n").encode()
                with write_lock:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()

            call = Call(str(body.get("callId") or ""), emit)
            try:
                result = worker.run(str(body.get("method") or ""), body.get("args"), call)
                emit({"type": "result", "result": result})
            except Cancelled as error:
                emit({"type": "error", "error": {"category": "transient", "message": str(error), "cancelled": True}})
            except Exception as error:  # noqa: BLE001
                emit({"type": "error", "error": categorize(error)})
            with write_lock:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

    return Handler


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 refuses connections under a burst of calls.
    request_queue_size = 128


def _stop(worker):
    try:
        worker.capability.shutdown()
    finally:
        worker.server.shutdown()


def serve(capability):
    """Serve ``capability`` on a loopback port until the host asks it to shut down."""
    token = os.environ.get("ROAM_WORKER_TOKEN")
    if not token:
        sys.exit("roam_worker: ROAM_WORKER_TOKEN is not set; capability workers are started by a roam host")
    concurrency = int(os.environ.get("ROAM_WORKER_CONCURRENCY") or "1")
    worker = _Worker(capability, token, concurrency)
    server = _Server(("127.0.0.1", 0), _handler(worker))
    server.daemon_threads = True
    worker.server = server
    print("ROAM_WORKER_PORT=%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
