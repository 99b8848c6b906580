// A tiny static file server for the one-stage (`simples`) image of the webtest front-end, with
// node alone: it serves the built page from dist/ on $PORT (default 8080), answers GET /healthz
// with "ok" as nginx does in the multistage image, logs one line per request in the same shape
// as the other webtest apps, and stops gracefully on SIGTERM and SIGINT (also as PID 1).
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** How long requests in flight may take to finish once a stop has begun. */
const DRAIN_MS = 5000;

/** Parses a TCP port from 1 to 65535, or returns null. */
function parsePort(value) {
  const text = String(value).trim();
  if (!/^[0-9]+$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

/** One access-log line, e.g. `127.0.0.1:53422 "GET /healthz HTTP/1.1" 200 2 0.120ms`. */
function accessLine(req, status, length, ms) {
  const peer = req.socket.remoteAddress ? `${req.socket.remoteAddress}:${req.socket.remotePort}` : "-";
  return `${peer} "${req.method} ${req.url} HTTP/${req.httpVersion}" ${status} ${length} ${ms.toFixed(3)}ms`;
}

/** Maps a request path to a file under root, or null when it would leave root or is malformed. */
function resolveFile(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0")) return null;
  const file = path.resolve(root, `.${path.posix.normalize(`/${decoded}`)}`);
  if (file !== root && !file.startsWith(root + path.sep)) return null;
  return file;
}

/** Every open connection of a server, for the graceful stop to find the silent ones. */
const SOCKETS = Symbol("open connections");

/** Creates the server for the files under root. */
function createServer(root, log = (line) => process.stdout.write(`${line}\n`)) {
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    const send = (status, headers, body) => {
      const data = Buffer.isBuffer(body) ? body : Buffer.from(body);
      res.writeHead(status, { ...headers, "Content-Length": data.length });
      res.end(req.method === "HEAD" ? undefined : data);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log(accessLine(req, status, req.method === "HEAD" ? 0 : data.length, ms));
    };
    const urlPath = (req.url || "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" }, "method not allowed\n");
      return;
    }
    if (urlPath === "/healthz") {
      send(200, { "Content-Type": "text/plain; charset=utf-8" }, "ok");
      return;
    }
    let file = resolveFile(base, urlPath);
    if (file === null) {
      send(400, { "Content-Type": "text/plain; charset=utf-8" }, "bad request\n");
      return;
    }
    fs.stat(file, (statError, stats) => {
      if (!statError && stats.isDirectory()) file = path.join(file, "index.html");
      fs.readFile(file, (readError, data) => {
        if (readError) {
          send(404, { "Content-Type": "text/plain; charset=utf-8" }, "not found\n");
          return;
        }
        const type = TYPES[path.extname(file)] || "application/octet-stream";
        send(200, { "Content-Type": type }, data);
      });
    });
  });
  // Node counts a connection that has sent nothing yet (a browser's preconnect, a TCP health
  // check) as neither idle nor busy, so closing the idle ones leaves it, and it would hold a
  // stop for its whole header timeout. (Its bytes go to the HTTP parser without a "data"
  // event, so what tells it is the socket's count of bytes read.)
  server[SOCKETS] = new Set();
  server.on("connection", (socket) => {
    server[SOCKETS].add(socket);
    socket.once("close", () => server[SOCKETS].delete(socket));
  });
  return server;
}

/**
 * Stops the server gracefully: no new connections, idle ones closed at once, requests in
 * flight finished (for up to DRAIN_MS). Calls done(drained) when the server has stopped.
 */
function stopGracefully(server, done) {
  const timer = setTimeout(() => {
    server.closeAllConnections();
    done(false);
  }, DRAIN_MS);
  timer.unref();
  // A connection busy when the stop begins goes idle once its response is sent, and a kept-alive
  // one would then hold the server open until its keep-alive timeout (5 s): idle connections
  // are closed as they appear, not only once; and so are those that never said a word.
  const closeQuiet = () => {
    server.closeIdleConnections();
    for (const socket of server[SOCKETS] || []) {
      if (socket.bytesRead === 0) socket.destroy();
    }
  };
  const sweep = setInterval(closeQuiet, 20);
  sweep.unref();
  server.close(() => {
    clearTimeout(timer);
    clearInterval(sweep);
    done(true);
  });
  closeQuiet();
}

module.exports = { createServer, stopGracefully, parsePort, resolveFile };

if (require.main === module) {
  const port = process.env.PORT === undefined ? 8080 : parsePort(process.env.PORT);
  if (port === null) {
    console.error(`webtest-frontend: PORT: invalid port ${JSON.stringify(process.env.PORT)}: expected a number from 1 to 65535`);
    process.exit(2);
  }
  const root = process.env.WEBTEST_ROOT || path.join(__dirname, "dist");
  const server = createServer(root);
  // As PID 1 in a container the kernel delivers no signal whose action is the default, so
  // without these handlers `docker stop` would wait its whole timeout.
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      console.log(`webtest-frontend: ${signal} received, shutting down`);
      stopGracefully(server, (drained) => {
        console.log(drained ? "webtest-frontend: stopped" : "webtest-frontend: stopped; requests still running were dropped");
        process.exit(0);
      });
    });
  }
  server.on("error", (error) => {
    console.error(`webtest-frontend: cannot listen on 0.0.0.0:${port}: ${error.message}`);
    process.exit(1);
  });
  server.listen(port, "0.0.0.0", () => {
    console.log(`webtest-frontend serving ${root} on 0.0.0.0:${port}`);
  });
}
