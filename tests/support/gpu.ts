/** Whether `command args` runs and exits 0 here. */
function succeeds(command: string, args: string[]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/**
 * What this machine offers GPU tests: `gpu` when nvidia-smi answers, `torch`
 * when python3 also imports torch with CUDA. When a test cannot run, it
 * prints why (naming `what`), so a skip is never silent.
 */
export function gpuCheck(what: string): { gpu: boolean; torch: boolean } {
  const gpu = succeeds("nvidia-smi", ["-L"]);
  const torch = gpu &&
    succeeds("python3", ["-c", "import torch; assert torch.cuda.is_available()"]);
  if (!gpu) console.log(`skipped: no nvidia-smi here (${what})`);
  else if (!torch) console.log(`skipped: python3 here cannot import torch with CUDA (${what})`);
  return { gpu, torch };
}
