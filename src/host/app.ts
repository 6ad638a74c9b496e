import { Hono } from "hono";
import { ROAM_VERSION } from "../version.ts";

/** The request handlers the HTTP app routes to. */
export interface AppRoutes {
  /** `POST /rpc`. */
  rpc: (request: Request) => Promise<Response>;
  /** `GET /rpc/ws`. */
  ws: (request: Request) => Response;
  /** `GET /relay/connect` and `/relay/<hostId>/…`: this host as a relay hub. */
  relay?: {
    connect: (request: Request) => Response;
    forward: (hostId: string, request: Request) => Promise<Response>;
  };
  /** artifacts: `PUT`/`POST /artifacts` and `GET`/`HEAD /artifacts/<sha256>`. */
  artifacts?: {
    upload: (request: Request) => Promise<Response>;
    download: (request: Request, sha256: string) => Promise<Response>;
  };
}

/** The host's HTTP surface: JSON-RPC over HTTP and WebSocket, and a short index. */
export function createApp(routes: AppRoutes): Hono {
  const app = new Hono();
  app.post("/rpc", (c) => routes.rpc(c.req.raw));
  app.get("/rpc/ws", (c) => routes.ws(c.req.raw));
  const relay = routes.relay;
  if (relay) {
    app.get("/relay/connect", (c) => relay.connect(c.req.raw));
    app.all("/relay/:hostId/*", (c) => relay.forward(c.req.param("hostId"), c.req.raw));
  }
  // artifacts: streamed blobs (HEAD is served by the GET route, told apart by the raw method).
  const artifacts = routes.artifacts;
  if (artifacts) {
    app.on(["PUT", "POST"], "/artifacts", (c) => artifacts.upload(c.req.raw));
    app.get("/artifacts/:sha256", (c) => artifacts.download(c.req.raw, c.req.param("sha256")));
  }
  app.get(
    "/",
    (c) =>
      c.json({
        name: "roam",
        version: ROAM_VERSION,
        rpc: "POST /rpc",
        ws: "GET /rpc/ws",
        health: "host.health",
      }),
  );
  app.notFound((c) =>
    c.json({ error: `no route ${c.req.method} ${c.req.path}; JSON-RPC is at POST /rpc` }, 404)
  );
  return app;
}
