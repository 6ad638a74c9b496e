import { fileURLToPath } from "node:url";
import { RoamError } from "../errors/mod.ts";
import type { RegistryConfig } from "./config.ts";
import { display, readBounded } from "./download.ts";
import { parseIndex, type RegistryIndex } from "./format.ts";
import type { KeyPins } from "./keys.ts";
import { MAX_SIGNATURE_BYTES, verifyIndex } from "./signature.ts";

/** A loaded, verified index. */
export interface LoadedIndex {
  /** Its URL, the registry's identity (keys are pinned and installs recorded under it). */
  url: string;
  /** The index. */
  index: RegistryIndex;
  /** The publisher key that signed it, when signed. */
  key?: string;
}

/** Options for {@linkcode loadIndex}. */
export interface LoadOptions {
  /** Time and size limits. */
  config: Pick<RegistryConfig, "timeoutMs" | "stallMs" | "maxIndexBytes">;
  /** The publisher keys pinned per registry. */
  pins: KeyPins;
  /** Take another key than the pinned one (or no signature), and pin it. */
  acceptNewKey?: boolean;
  /** Cancels the read. */
  signal?: AbortSignal;
}

/**
 * The index URL a registry argument means: an http(s) or file URL; one
 * that ends in `/`, or a file URL of a dir, gets `index.json`.
 *
 * @throws {RoamError} `invalid_input` when there is none or it is not an http(s) or file URL.
 */
export async function resolveIndexUrl(given: string | undefined): Promise<URL> {
  if (!given) {
    throw new RoamError(
      "invalid_input",
      "no registry given: pass --registry URL (or set ROAM_REGISTRY), or configure the host's default with registry.url (or ROAM_REGISTRY in the host's environment)",
    );
  }
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new RoamError(
      "invalid_input",
      `"${given}" is not a URL; a registry is an http(s) or file URL of an index.json (the CLI also takes a path)`,
      { registry: given },
    );
  }
  if (!["http:", "https:", "file:"].includes(url.protocol)) {
    throw new RoamError(
      "invalid_input",
      `${display(url)}: registries are reached over http, https or file URLs only`,
      { registry: display(url) },
    );
  }
  url.hash = "";
  if (url.pathname.endsWith("/")) url.pathname += "index.json";
  else if (url.protocol === "file:") {
    try {
      if ((await Deno.stat(fileURLToPath(url))).isDirectory) url.pathname += "/index.json";
    } catch { /* reported when read */ }
  }
  return url;
}

/**
 * Read, verify and parse an index. A signed index (`URL.sig` exists) must
 * match its signature, and its key must be the one pinned for this
 * registry (pinned now when none is). The signature is checked on the bytes
 * as read, before they are parsed.
 *
 * @throws {RoamError} `not_found` when there is no index; `unavailable` when it does not match
 * its signature; `forbidden` when the key is not the pinned one; `invalid_input` for an index
 * that is not `roam-registry/1`; `too_large`, `timeout`.
 */
export async function loadIndex(url: URL, options: LoadOptions): Promise<LoadedIndex> {
  const { timeoutMs, stallMs, maxIndexBytes } = options.config;
  const limits = { timeoutMs, stallMs, signal: options.signal };
  const bytes = await readBounded(url, { maxBytes: maxIndexBytes, ...limits }).catch((error) => {
    if (error instanceof RoamError && error.code === "not_found") {
      throw new RoamError(
        "not_found",
        `there is no registry index at ${display(url)}: ${error.message}`,
        { registry: display(url) },
      );
    }
    throw error;
  });
  const sigUrl = new URL(url.href);
  sigUrl.pathname += ".sig";
  const sig = await readBounded(sigUrl, {
    maxBytes: MAX_SIGNATURE_BYTES,
    ...limits,
    optional: true,
  });
  const key = sig ? verifyIndex(bytes, sig, display(sigUrl)) : undefined;
  const index = parseIndex(bytes, display(url));
  options.pins.check(url.href, key, { acceptNewKey: options.acceptNewKey });
  return { url: url.href, index, key };
}
