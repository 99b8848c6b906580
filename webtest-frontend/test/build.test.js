// Tests of the front-end build: the built page differs from the source in the ways the probes
// rely on (a stamp, hashed and minified assets), and the bundled script still runs.
"use strict";

const assert = require("assert");
const fs = require("fs");
const os = require("os");
const path = require("path");
const test = require("node:test");
const vm = require("vm");

const { build, minifyJs, minifyCss, minifyHtml } = require("../build.js");

const src = path.join(__dirname, "..", "src");

function buildInto() {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "webtest-frontend-"));
  const result = build({ src, out });
  return { out, result, read: (name) => fs.readFileSync(path.join(out, name), "utf8") };
}

test("the built page carries the stamp and the source does not", () => {
  const { out, result, read } = buildInto();
  const html = read("index.html");
  assert.match(html, /<meta name="webtest-build" content="webtest-frontend 0\.1\.0\+[0-9a-f]{12}">/);
  assert.ok(html.includes(`built: ${result.stamp}`));
  const source = fs.readFileSync(path.join(src, "index.html"), "utf8");
  assert.ok(!source.includes('name="webtest-build"'));
  assert.ok(html.includes("webtest"), "the page names webtest, which the probes look for");
  fs.rmSync(out, { recursive: true });
});

test("the assets are bundled into one hashed script and one hashed style sheet", () => {
  const { out, result, read } = buildInto();
  const js = result.files.find((f) => /^app\.[0-9a-f]{10}\.js$/.test(f));
  const css = result.files.find((f) => /^style\.[0-9a-f]{10}\.css$/.test(f));
  assert.ok(js && css, `files: ${result.files}`);
  assert.deepStrictEqual(fs.readdirSync(out).sort(), [css, js, "index.html"].sort());
  const html = read("index.html");
  assert.ok(html.includes(`<script src="${js}" defer></script>`));
  assert.ok(html.includes(`<link rel="stylesheet" href="${css}">`));
  assert.ok(!html.includes("js/main.js") && !html.includes("css/base.css"));
  assert.ok(!html.includes("<!--"), "comments are gone");
  assert.ok(result.builtBytes < result.sourceBytes, `${result.builtBytes} < ${result.sourceBytes}`);
  fs.rmSync(out, { recursive: true });
});

test("the same sources give the same bytes", () => {
  const a = buildInto();
  const b = buildInto();
  assert.deepStrictEqual(a.result.files, b.result.files);
  assert.strictEqual(a.read("index.html"), b.read("index.html"));
  fs.rmSync(a.out, { recursive: true });
  fs.rmSync(b.out, { recursive: true });
});

test("the bundled script runs and shows the server's health", async () => {
  const { out, result, read } = buildInto();
  const js = read(result.files.find((f) => f.endsWith(".js")));
  const health = { textContent: "", className: "" };
  const context = {
    document: { getElementById: (id) => (id === "health" ? health : null) },
    fetch: async (url) => {
      assert.strictEqual(url, "/healthz");
      return { status: 200, text: async () => "ok" };
    },
    Date,
    Math,
  };
  vm.runInNewContext(js, context);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.match(health.textContent, /^ok \(ok\) in \d+ ms$/);
  assert.strictEqual(health.className, "ok");
  assert.strictEqual(context.describeHealth, undefined, "helpers stay inside the bundle's scope");
  fs.rmSync(out, { recursive: true });
});

test("the minifiers keep what matters", () => {
  assert.strictEqual(minifyJs("var a = 1; // one\n/* two */ var b = a + +a;"), "var a=1;var b=a+ +a;");
  assert.strictEqual(minifyJs('var s = "a  //  b"; var r = /x\\/ +y/g;'), 'var s="a  //  b";var r=/x\\/ +y/g;');
  assert.strictEqual(minifyJs("var t = `a ${ 1 +  2 } b`;"), "var t=`a ${ 1 +  2 } b`;");
  assert.strictEqual(minifyJs("a = b\nc = d"), "a=b\nc=d", "a line break that may end a statement stays");
  assert.strictEqual(minifyJs("return x / 2 / y;"), "return x/2/y;");
  assert.strictEqual(minifyCss("a > b  { color: red ; }\n/* x */ c{d:e}"), "a>b{color:red}c{d:e}");
  assert.strictEqual(minifyCss("a :hover{x:y}"), "a :hover{x:y}", "a space before a colon may be a descendant selector");
  assert.strictEqual(minifyHtml("<p>\n  a  b\n</p>\n<!-- c -->\n<i>d</i>"), "<p> a b </p><i>d</i>", "text keeps one space where it had any");
});
