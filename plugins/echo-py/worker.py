"""echo-py: a capability on the system Python, for tests, benches and examples."""

import os
import subprocess
import time

from roam_worker import (
    Capability,
    FatalError,
    ResourceError,
    TransientError,
    UserInputError,
    method,
    serve,
)


class Echo(Capability):
    name = "echo-py"
    version = "1.0.0"
    config_schema = {"type": "object", "properties": {"prefix": {"type": "string"}}}

    def initialize(self, config):
        if config.get("failInit") == "error":
            print("echo-py: failing initialize, as asked", flush=True)
            raise FatalError("initialize failed, as asked")
        if config.get("failInit") == "exit":
            print("echo-py: exiting during initialize, as asked", flush=True)
            os._exit(4)
        if config.get("initSleepMs"):
            # A slow load (a model read from disk) that stays responsive.
            print("echo-py: initializing slowly", flush=True)
            time.sleep(config["initSleepMs"] / 1000)
        self.prefix = config.get("prefix", "")
        self.children = []
        if config.get("grandchild"):
            # A child process of the worker, as a model server would start (tests kill the group).
            self.children.append(subprocess.Popen(["sleep", "300"]))

    @method
    def echo(self, args, call):
        """Answer with the arguments (and the config's prefix)."""
        return {
            "echo": args,
            "prefix": self.prefix,
            "pid": os.getpid(),
            "children": [c.pid for c in self.children],
        }

    @method
    def count(self, args, call):
        """Count to args["to"], one step every args["delayMs"] ms, reporting each as progress."""
        to = int(args.get("to", 10))
        delay = float(args.get("delayMs", 10)) / 1000
        for i in range(1, to + 1):
            call.wait(delay)
            call.progress(i / to, "counted %d of %d" % (i, to), partial=i)
        return {"counted": to}

    @method
    def environ(self, args, call):
        """Which of args["names"] are set in the worker's environment (never their values)."""
        return {name: name in os.environ for name in args.get("names", [])}

    @method
    def sleep(self, args, call):
        """Sleep args["ms"] without looking at cancellation (a call that ignores cancel)."""
        time.sleep(float(args.get("ms", 1000)) / 1000)
        return {"slept": True}

    @method
    def spawn(self, args, call):
        """Start a grandchild process (sleep) in this worker's group and return its pid."""
        child = subprocess.Popen(["sleep", str(args.get("seconds", 300))])
        self.children.append(child)
        return {"pid": child.pid}

    @method
    def fail(self, args, call):
        """Fail as asked: user_input, transient, resource, fatal, exception, or exit (the process dies)."""
        mode = args.get("mode", "fatal")
        if mode == "user_input":
            raise UserInputError("bad input, as asked")
        if mode == "transient":
            raise TransientError("a passing failure, as asked")
        if mode == "resource":
            raise ResourceError("not enough memory, as asked", shortfall={"resource": "ram_mb", "needed": 10, "available": 1})
        if mode == "exception":
            raise RuntimeError("a plain exception, as asked")
        if mode == "exit":
            os._exit(3)
        raise FatalError("a fatal failure, as asked")


if __name__ == "__main__":
    serve(Echo())
