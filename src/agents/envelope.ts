import { z } from "zod";
import { MAX_PRIORITY } from "./mailbox.ts";

/** The envelope format this build writes and reads. */
export const ENVELOPE_VERSION = 1;

/** Most waiting messages that travel with an agent; a move with more is refused. */
export const MAX_ENVELOPE_MESSAGES = 10_000;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: "a sha256 is 64 hex digits" });
const HostUrl = z.string().url().max(2048);

/** Most files that travel with one agent. */
export const MAX_ENVELOPE_FILES = 1000;

/** artifacts: one of an agent's files as it travels: a name and the blob's sha256 (fetched by the target). */
export const TravellingFileSchema = z.object({
  name: z.string().min(1).max(255).regex(/^[^/\\\0]+$/),
  sha256: Sha256,
  size: z.number().int().min(0),
}).strict();

/** A message as it travels inside an envelope. */
export const TravellingMessageSchema = z.object({
  kind: z.string().min(1).max(128),
  args: z.unknown(),
  from: z.string().max(128).nullable(),
  priority: z.number().int().min(0).max(MAX_PRIORITY),
  id: z.string().max(128),
}).strict();

/**
 * Everything an agent is when it moves between hosts: which code it runs
 * (plugin name, version and the bundle's sha256, so that the target can
 * fetch and check the code), its state, the messages that were waiting for
 * it (its mailbox is frozen and they travel), its sleep policy, and where it
 * has been. Never its permissions: on the target it runs with that host
 * operator's grants.
 *
 * `transferId` names this one hand-off, so that delivering it twice is
 * harmless; `epoch` grows by one at every move, so that a stale copy of an
 * agent can never overwrite a newer one.
 */
export const EnvelopeSchema = z.object({
  v: z.literal(ENVELOPE_VERSION).describe("the envelope format"),
  kind: z.enum(["dispatch", "retract", "clone"]),
  transferId: z.string().uuid(),
  epoch: z.number().int().min(1),
  agent: z.object({
    id: z.string().uuid(),
    /** For a clone: the original's id. */
    cloneOf: z.string().uuid().optional(),
  }).strict(),
  plugin: z.object({
    name: z.string().min(1).max(64),
    version: z.string().min(1).max(64),
    sha256: Sha256,
  }).strict(),
  state: z.unknown(),
  messages: z.array(TravellingMessageSchema).max(MAX_ENVELOPE_MESSAGES),
  /** artifacts: the agent's registered files, as blobs the target fetches from the source. */
  files: z.array(TravellingFileSchema).max(MAX_ENVELOPE_FILES).optional(),
  policy: z.object({
    activateOnMessage: z.boolean(),
    queueWhenInactive: z.boolean(),
  }).strict(),
  metadata: z.object({
    /** Moves so far, this one included. */
    hops: z.number().int().min(0),
    /** The host where the agent began travelling. */
    origin: HostUrl,
    /** The sending host; the target fetches missing code from it. */
    source: z.object({ id: z.string().max(128), name: z.string().max(128), url: HostUrl })
      .strict(),
    sentAt: z.string().datetime({ offset: true }),
  }).strict(),
}).strict();

/** An agent on its way between hosts. */
export type Envelope = z.infer<typeof EnvelopeSchema>;
