// The build of the webtest front-end, with node alone and no dependencies: it bundles the
// page's classic scripts and style sheets (in document order) into one script and one style
// sheet, minifies the three, names the assets after a hash of their content (so that a server
// may cache them for ever), stamps the page, and writes it all to dist/.
//
// Usage: node build.js [--src DIR] [--out DIR]   (defaults: src/ and dist/ beside this file)
//
// The stamp (`<meta name="webtest-build" …>` and the footer text) is what tells a built page
// from the source one; it holds the version and a hash of the sources, not the time, so that
// the same sources always give the same bytes.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const pkg = require("./package.json");

/** Reads the command line: `--src DIR` and `--out DIR`. */
function parseArgs(argv) {
  const options = { src: path.join(__dirname, "src"), out: path.join(__dirname, "dist") };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if ((flag === "--src" || flag === "--out") && i + 1 < argv.length) {
      options[flag.slice(2)] = path.resolve(argv[i + 1]);
      i += 1;
    } else {
      throw new Error(`unexpected argument ${JSON.stringify(flag)}; usage: node build.js [--src DIR] [--out DIR]`);
    }
  }
  return options;
}

const IDENT = /[A-Za-z0-9_$\u0080-\uffff]/;

/**
 * Minifies JavaScript conservatively: comments go, and white space goes except where it
 * separates two words, keeps `a + +b` apart, or may end a statement (a line break where
 * automatic semicolon insertion could apply stays a line break). Strings, template literals
 * and regular expression literals are copied as they are.
 */
function minifyJs(source) {
  let out = "";
  let i = 0;
  let pendingSpace = false;
  let pendingNewline = false;
  // The last significant character written, to tell a regex literal from a division.
  const lastSignificant = () => out.replace(/\s+$/, "").slice(-1);
  const regexAllowedAfter = (c) => c === "" || "(,=:[!&|?{};+-*%<>~^".includes(c);
  const flush = (next) => {
    const prev = out.slice(-1);
    if (pendingNewline && !";,{([:=".includes(prev) && !"}),;:.?".includes(next)) {
      out += "\n";
    } else if (
      (pendingSpace || pendingNewline) &&
      ((IDENT.test(prev) && IDENT.test(next)) ||
        ((prev === "+" || prev === "-") && prev === next))
    ) {
      out += " ";
    }
    pendingSpace = false;
    pendingNewline = false;
  };
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      while (i < source.length && source[i] !== "\n") i += 1;
      continue;
    }
    if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      if (end < 0) throw new Error("unterminated comment in JavaScript");
      if (source.slice(i, end).includes("\n")) pendingNewline = true;
      else pendingSpace = true;
      i = end + 2;
      continue;
    }
    if (/\s/.test(c)) {
      if (c === "\n") pendingNewline = true;
      else pendingSpace = true;
      i += 1;
      continue;
    }
    flush(c);
    if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      let depth = 0;
      while (j < source.length) {
        const d = source[j];
        if (d === "\\") {
          j += 2;
          continue;
        }
        if (c === "`" && d === "$" && source[j + 1] === "{") depth += 1;
        else if (c === "`" && d === "}" && depth > 0) depth -= 1;
        else if (d === c && depth === 0) break;
        else if (c !== "`" && d === "\n") throw new Error("unterminated string in JavaScript");
        j += 1;
      }
      if (j >= source.length) throw new Error("unterminated string in JavaScript");
      out += source.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === "/" && regexAllowedAfter(lastSignificant())) {
      let j = i + 1;
      let inClass = false;
      while (j < source.length) {
        const d = source[j];
        if (d === "\\") {
          j += 2;
          continue;
        }
        if (d === "\n") throw new Error("unterminated regular expression in JavaScript");
        if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        j += 1;
      }
      j += 1;
      while (j < source.length && /[a-z]/.test(source[j])) j += 1;
      out += source.slice(i, j);
      i = j;
      continue;
    }
    out += c;
    i += 1;
  }
  return out.trim();
}

/** Minifies CSS: comments go, white space shrinks to what separates words. */
function minifyCss(source) {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\s+/g, " ")
    .replace(/\s*([{};,>])\s*/g, "$1")
    .replace(/:\s+/g, ":")
    .replace(/;}/g, "}")
    .trim();
}

/** Minifies HTML: comments go, and so does the layout white space between tags. */
function minifyHtml(source) {
  return source
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/>\s*\n\s*</g, "><")
    .replace(/\s+/g, " ")
    .trim();
}

const contentHash = (data) => crypto.createHash("sha256").update(data).digest("hex");

/** Builds the page of `src` into `out`, and returns what it wrote. */
function build({ src, out }) {
  const htmlPath = path.join(src, "index.html");
  let html = fs.readFileSync(htmlPath, "utf8");

  // The assets, in document order: the order is the cascade for CSS and the order of
  // definitions for the scripts.
  const styles = [];
  const scripts = [];
  html = html.replace(/[ \t]*<link rel="stylesheet" href="([^"]+)">\n?/g, (_, href) => {
    styles.push(href);
    return styles.length === 1 ? "@@STYLES@@\n" : "";
  });
  html = html.replace(/[ \t]*<script src="([^"]+)"><\/script>\n?/g, (_, href) => {
    scripts.push(href);
    return scripts.length === 1 ? "@@SCRIPTS@@\n" : "";
  });
  if (styles.length === 0 || scripts.length === 0) {
    throw new Error(`${htmlPath}: found ${styles.length} style sheets and ${scripts.length} scripts; expected some of each`);
  }
  const read = (href) => fs.readFileSync(path.join(src, href), "utf8");
  const css = minifyCss(styles.map(read).join("\n"));
  // One function scope for all scripts: their top-level names stay shared among them, as
  // globals are among classic scripts, but no longer leak into the page's global object.
  const js = minifyJs(`(function () {\n"use strict";\n${scripts.map(read).join("\n;\n")}\n})();\n`);
  // A script that no longer parses would be a broken page: fail the build instead.
  try {
    new vm.Script(js, { filename: "bundle.js" });
  } catch (error) {
    throw new Error(`the minified bundle does not parse: ${error.message}`);
  }

  const sourceHash = contentHash(
    [htmlPath, ...styles.map((h) => path.join(src, h)), ...scripts.map((h) => path.join(src, h))]
      .map((file) => fs.readFileSync(file))
      .join("\0"),
  ).slice(0, 12);
  const stamp = `${pkg.name} ${pkg.version}+${sourceHash}`;
  const cssName = `style.${contentHash(css).slice(0, 10)}.css`;
  const jsName = `app.${contentHash(js).slice(0, 10)}.js`;

  html = html
    .replace("@@STYLES@@", `<link rel="stylesheet" href="${cssName}">`)
    .replace("@@SCRIPTS@@", `<script src="${jsName}" defer></script>`)
    .replace("</head>", `<meta name="webtest-build" content="${stamp}">\n</head>`)
    .replace(/<span id="build">[^<]*<\/span>/, `<span id="build">built: ${stamp}</span>`);
  html = minifyHtml(html);

  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const files = { "index.html": html, [cssName]: css, [jsName]: js };
  for (const [name, data] of Object.entries(files)) {
    fs.writeFileSync(path.join(out, name), data);
  }
  const sourceBytes = [htmlPath, ...styles.map((h) => path.join(src, h)), ...scripts.map((h) => path.join(src, h))]
    .reduce((sum, file) => sum + fs.statSync(file).size, 0);
  const builtBytes = Object.values(files).reduce((sum, data) => sum + Buffer.byteLength(data), 0);
  return { stamp, files: Object.keys(files), sourceBytes, builtBytes };
}

module.exports = { build, minifyJs, minifyCss, minifyHtml };

if (require.main === module) {
  try {
    const options = parseArgs(process.argv.slice(2));
    const result = build(options);
    console.log(`built ${result.stamp} into ${path.relative(process.cwd(), options.out) || "."}: ${result.files.join(", ")}`);
    console.log(`${result.sourceBytes} bytes of sources, ${result.builtBytes} bytes built`);
  } catch (error) {
    console.error(`build failed: ${error.message}`);
    process.exit(1);
  }
}
