"""torch-matmul: the GPU PyTorch sees, and how long an NxN matrix product takes on it."""

import time

from roam_worker import Capability, FatalError, ResourceError, UserInputError, method, serve


class TorchMatmul(Capability):
    name = "torch-matmul"
    version = "1.0.0"

    def initialize(self, config):
        try:
            import torch  # noqa: PLC0415 - imported here so that a missing torch is a clear error
        except ImportError as error:
            raise FatalError(
                "PyTorch is not installed for this Python (%s); install torch in the capability's environment" % error
            ) from error
        if not torch.cuda.is_available():
            raise ResourceError(
                "PyTorch %s sees no CUDA GPU on this host; run torch-matmul on a host with an NVIDIA GPU"
                % torch.__version__,
                shortfall={"resource": "gpu", "needed": 1, "available": 0},
            )
        self.torch = torch
        self.dtype = getattr(torch, config.get("dtype", "float32"))

    @method
    def gpu(self, args, call):
        """The GPU: name, total memory, CUDA and PyTorch versions."""
        torch = self.torch
        props = torch.cuda.get_device_properties(0)
        return {
            "name": props.name,
            "totalMemoryMb": props.total_memory // (1024 * 1024),
            "cuda": torch.version.cuda,
            "torch": torch.__version__,
            "devices": torch.cuda.device_count(),
        }

    @method
    def matmul(self, args, call):
        """Time C = A @ B for NxN random matrices: args {"n": 4096, "repeats": 10}."""
        torch = self.torch
        n = int(args.get("n", 4096))
        repeats = int(args.get("repeats", 10))
        if not 1 <= n <= 65536 or not 1 <= repeats <= 10000:
            raise UserInputError("n must be 1..65536 and repeats 1..10000")
        try:
            a = torch.randn(n, n, device="cuda", dtype=self.dtype)
            b = torch.randn(n, n, device="cuda", dtype=self.dtype)
            torch.matmul(a, b)
            torch.cuda.synchronize()
            times = []
            for i in range(repeats):
                call.check_cancel()
                start = time.perf_counter()
                c = torch.matmul(a, b)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
                call.progress((i + 1) / repeats, "product %d of %d" % (i + 1, repeats))
            checksum = float(c[0, 0].float().item())
        except torch.cuda.OutOfMemoryError as error:
            raise ResourceError(str(error), shortfall={"resource": "gpu_vram_mb"}) from error
        best = min(times)
        return {
            "gpu": torch.cuda.get_device_name(0),
            "n": n,
            "dtype": str(self.dtype).replace("torch.", ""),
            "repeats": repeats,
            "bestMs": best * 1000,
            "medianMs": sorted(times)[len(times) // 2] * 1000,
            "tflops": 2 * n ** 3 / best / 1e12,
            "peakVramMb": torch.cuda.max_memory_allocated() // (1024 * 1024),
            "checksum": checksum,
        }


if __name__ == "__main__":
    serve(TorchMatmul())
