/**
 * JSON-RPC 2.0 for roam: methods declared once with zod schemas, a dispatcher
 * that serves them over HTTP (`POST /rpc`) and WebSocket (`/rpc/ws`), and
 * clients for both.
 *
 * @module
 */
export {
  type CallContext,
  defineMethod,
  type Handler,
  implement,
  type MethodContract,
  type MethodImpl,
  type MethodSpec,
  type Session,
  type Transport,
} from "./method.ts";
export {
  type DispatchContext,
  Dispatcher,
  type DispatcherOptions,
  type Payload,
} from "./dispatch.ts";
export { fromErrorObject, invalidParams, toErrorObject } from "./errors.ts";
export {
  type Authenticate,
  type AuthResult,
  bearerToken,
  createHttpRpcHandler,
  type HttpRpcOptions,
} from "./http.ts";
export { createWsRpcHandler, WS_PROTOCOL, WS_TOKEN_PREFIX, type WsRpcOptions } from "./ws.ts";
export {
  type CallOptions,
  normalizeHostUrl,
  type RpcClientOptions,
  RpcHttpClient,
  RpcWsClient,
  sameHostUrl,
  type WsClientOptions,
} from "./client.ts";
export type { BodyLimits } from "./body.ts";
export { Deadlines, deadlines } from "./deadline.ts";
export type {
  ErrorObject,
  Id,
  Request as RpcRequest,
  Response as RpcResponse,
} from "./protocol.ts";
