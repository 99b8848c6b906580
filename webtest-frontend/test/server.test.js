// Tests of the one-stage image's static server over real HTTP on 127.0.0.1: the page, the
// health route, methods, paths that try to leave the root, the log, and a graceful stop.
"use strict";

const assert = require("assert");
const { spawn } = require("child_process");
const fs = require("fs");
const http = require("http");
const net = require("net");
const os = require("os");
const path = require("path");
const test = require("node:test");

const { createServer, stopGracefully, parsePort } = require("../server.js");

function request(port, method, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: urlPath }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function serveTemp() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "webtest-frontend-root-"));
  fs.writeFileSync(path.join(root, "index.html"), "<p>webtest page</p>");
  fs.writeFileSync(path.join(root, "app.js"), "var a=1;");
  fs.writeFileSync(path.join(path.dirname(root), "secret-outside.txt"), "outside");
  const lines = [];
  const server = createServer(root, (line) => lines.push(line));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, root, lines, port: server.address().port };
}

test("serves the page, /healthz and the assets, and logs each request", async () => {
  const { server, port, lines } = await serveTemp();
  const page = await request(port, "GET", "/");
  assert.strictEqual(page.status, 200);
  assert.strictEqual(page.body, "<p>webtest page</p>");
  assert.strictEqual(page.headers["content-type"], "text/html; charset=utf-8");
  const health = await request(port, "GET", "/healthz");
  assert.deepStrictEqual([health.status, health.body], [200, "ok"]);
  const js = await request(port, "GET", "/app.js?v=1");
  assert.deepStrictEqual([js.status, js.headers["content-type"]], [200, "text/javascript; charset=utf-8"]);
  assert.match(lines[0], /^127\.0\.0\.1:\d+ "GET \/ HTTP\/1\.1" 200 19 \d+\.\d{3}ms$/);
  assert.strictEqual(lines.length, 3);
  server.close();
});

test("HEAD has no body, other methods get 405, unknown paths 404", async () => {
  const { server, port } = await serveTemp();
  const head = await request(port, "HEAD", "/");
  assert.deepStrictEqual([head.status, head.body, head.headers["content-length"]], [200, "", "19"]);
  const post = await request(port, "POST", "/");
  assert.deepStrictEqual([post.status, post.headers.allow], [405, "GET, HEAD"]);
  assert.strictEqual((await request(port, "GET", "/missing")).status, 404);
  server.close();
});

test("paths cannot leave the root", async () => {
  const { server, port } = await serveTemp();
  for (const p of ["/../secret-outside.txt", "/%2e%2e/secret-outside.txt", "/..%2fsecret-outside.txt"]) {
    const res = await request(port, "GET", p);
    assert.notStrictEqual(res.body, "outside", p);
    assert.ok([400, 404].includes(res.status), `${p}: ${res.status}`);
  }
  assert.strictEqual((await request(port, "GET", "/%E0%A4%A")).status, 400);
  server.close();
});

test("a graceful stop lets a request in flight finish and closes idle connections", async () => {
  const { server, port } = await serveTemp();
  const agent = new http.Agent({ keepAlive: true });
  await new Promise((resolve) => http.get({ host: "127.0.0.1", port, path: "/healthz", agent }, (res) => { res.resume(); res.on("end", resolve); }));
  const began = Date.now();
  const drained = await new Promise((resolve) => stopGracefully(server, resolve));
  assert.strictEqual(drained, true);
  assert.ok(Date.now() - began < 1000, "idle keep-alive connections do not hold the stop");
  agent.destroy();
});

test("a stop that comes while a keep-alive request is answered does not wait for the keep-alive timeout", async () => {
  const { server, port } = await serveTemp();
  const agent = new http.Agent({ keepAlive: true });
  let stopped;
  // The stop begins while the request is being answered: its connection is busy then, and idle
  // (kept alive) a moment later.
  server.once("request", () => {
    const began = Date.now();
    stopped = new Promise((resolve) => stopGracefully(server, (drained) => resolve({ drained, ms: Date.now() - began })));
  });
  await new Promise((resolve) => http.get({ host: "127.0.0.1", port, path: "/healthz", agent }, (res) => { res.resume(); res.on("end", resolve); }));
  const { drained, ms } = await stopped;
  agent.destroy();
  assert.strictEqual(drained, true);
  assert.ok(ms < 1000, `the stop took ${ms} ms: a connection that went idle during it held it`);
});

test("a connection that never sends a byte does not hold the stop", async () => {
  const { server, port } = await serveTemp();
  const silent = net.connect(port, "127.0.0.1");
  silent.on("error", () => {});
  await new Promise((resolve) => silent.once("connect", resolve));
  // The server has accepted it once a request on another connection is answered.
  await request(port, "GET", "/healthz");
  const began = Date.now();
  const drained = await new Promise((resolve) => stopGracefully(server, resolve));
  const ms = Date.now() - began;
  silent.destroy();
  assert.strictEqual(drained, true);
  assert.ok(ms < 1000, `the stop took ${ms} ms: a silent connection held it`);
});

test("PORT must be 1 to 65535", () => {
  assert.strictEqual(parsePort("8080"), 8080);
  assert.strictEqual(parsePort(" 80 "), 80);
  for (const bad of ["0", "65536", "http", "", "-1", "1.5"]) assert.strictEqual(parsePort(bad), null, bad);
});

test("the program exits 2 on a bad PORT and 0 promptly on SIGTERM", async () => {
  const script = path.join(__dirname, "..", "server.js");
  const bad = spawn(process.execPath, [script], { env: { ...process.env, PORT: "abc" } });
  let stderr = "";
  bad.stderr.on("data", (d) => { stderr += d; });
  assert.strictEqual(await new Promise((resolve) => bad.on("exit", resolve)), 2);
  assert.match(stderr, /PORT: invalid port "abc"/);

  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const p = probe.address().port;
      probe.close(() => resolve(p));
    });
  });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "webtest-frontend-root-"));
  const child = spawn(process.execPath, [script], { env: { ...process.env, PORT: String(port), WEBTEST_ROOT: root } });
  let stdout = "";
  child.stdout.on("data", (d) => { stdout += d; });
  await new Promise((resolve) => { const wait = () => (stdout.includes("serving") ? resolve() : setTimeout(wait, 10)); wait(); });
  const began = Date.now();
  child.kill("SIGTERM");
  assert.strictEqual(await new Promise((resolve) => child.on("exit", resolve)), 0);
  assert.ok(Date.now() - began < 1000);
  assert.match(stdout, /SIGTERM received, shutting down\nwebtest-frontend: stopped\n/);
});
