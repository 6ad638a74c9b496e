import { datagramFromText, datagramToText } from "./gossip_port.ts";

/** Most WebSockets relayed for one connected host at once. */
export const MAX_STREAMS_PER_HOST = 64;

/** Most messages kept for a relayed WebSocket whose other end is not open yet. */
export const MAX_EARLY_MESSAGES = 256;

/** Longest wait for the connected host to open a relayed WebSocket, in ms. */
export const STREAM_OPEN_TIMEOUT_MS = 10_000;

/** A relayed WebSocket's send buffer past which it is closed as too slow (1013). */
export const MAX_STREAM_BUFFER_BYTES = 8 * 1024 * 1024;

/** A WebSocket message as a relay frame carries it: text as it is, binary as base64. */
export function messageFields(data: unknown): { data: string; binary?: true } {
  if (typeof data === "string") return { data };
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array();
  return { data: datagramToText(bytes), binary: true };
}

/** The message a relay frame carries, ready for `WebSocket.send`. */
export function messageData(frame: { data: string; binary?: boolean }): string | Uint8Array {
  return frame.binary ? datagramFromText(frame.data) : frame.data;
}

/**
 * A close code a script may pass to `WebSocket.close` (1000, or 3000 to
 * 4999); others (1001 going away, 1006 abnormal, ...) become 1000, their
 * meaning kept in the reason.
 */
export function closeCode(code: number | undefined): number {
  return code === 1000 || (code !== undefined && code >= 3000 && code <= 4999) ? code : 1000;
}

/** Close a WebSocket if it is not closed already, ignoring one that cannot be. */
export function closeQuietly(socket: WebSocket, code?: number, reason?: string): void {
  if (socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED) return;
  try {
    socket.close(closeCode(code), (reason ?? "").slice(0, 123));
  } catch { /* already closing */ }
}
