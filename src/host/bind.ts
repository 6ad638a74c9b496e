import { RoamError } from "../errors/mod.ts";

/** How the host chooses its addresses. */
export type BindMode = "loopback" | "auto" | "explicit";

/** A network interface address, as `Deno.networkInterfaces()` reports it. */
export type InterfaceAddress = Pick<Deno.NetworkInterfaceInfo, "address" | "family" | "name">;

/** Lists this machine's interface addresses; injectable for tests. */
export type InterfaceSource = () => InterfaceAddress[];

/** The real interface list. */
export const systemInterfaces: InterfaceSource = () => Deno.networkInterfaces();

/** The bind mode that a list of `--bind` values asks for. */
export function bindMode(bind: readonly string[]): BindMode {
  if (bind.includes("auto")) return "auto";
  if (bind.every((b) => b === "loopback" || b === "127.0.0.1")) return "loopback";
  return "explicit";
}

/**
 * The addresses to listen on now. `loopback` is 127.0.0.1; `auto` is every
 * IPv4 LAN address of the machine (not loopback, not link-local) plus
 * 127.0.0.1 so that local tools always reach the host; anything else is taken
 * as given. The result is sorted with LAN addresses first.
 */
export function resolveAddresses(bind: readonly string[], interfaces: InterfaceSource): string[] {
  const out = new Set<string>();
  for (const entry of bind) {
    if (entry === "loopback") out.add("127.0.0.1");
    else if (entry === "auto") {
      for (const a of lanAddresses(interfaces)) out.add(a);
      out.add("127.0.0.1");
    } else out.add(entry);
  }
  return [...out].sort((a, b) =>
    Number(isLoopback(a)) - Number(isLoopback(b)) || a.localeCompare(b)
  );
}

/** The machine's IPv4 LAN addresses: not loopback, not link-local (169.254/16). */
export function lanAddresses(interfaces: InterfaceSource): string[] {
  const seen = new Set<string>();
  let list: InterfaceAddress[];
  try {
    list = interfaces();
  } catch (error) {
    throw new RoamError(
      "unavailable",
      `cannot list network interfaces: ${(error as Error).message}`,
      {},
    );
  }
  for (const i of list) {
    if (i.family !== "IPv4" || isLoopback(i.address) || i.address.startsWith("169.254.")) continue;
    seen.add(i.address);
  }
  return [...seen].sort();
}

/** Whether an address is a loopback address. */
export function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1";
}

/** The URL of a host listening on `address:port`. */
export function urlFor(address: string, port: number): string {
  return address.includes(":") ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}
