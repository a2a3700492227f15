#!/usr/bin/env node
// Scope snapshots of the TextMate grammar, with the same tokenizer VS Code
// uses (vscode-textmate on vscode-oniguruma).
//
// Every `.bpl` file under `examples/` and every ```bpl block of the book
// (`book/src`) is tokenized, and the scopes of each token are pinned in a
// snapshot under `test/snapshots/`, mirroring the input's path:
//
//   >  input ev = silver_cases where business_date in [p - 29d, p]
//     ^^^^^ keyword.control.clause.bpl
//           ^^ variable.other.alias.bpl
//
// A line starting with `>` is source; under it, `^` marks each token that
// has a scope besides `source.bpl`, with its scopes, innermost last. Columns
// count UTF-16 units, as VS Code does (tests/editor_grammar.rs reads these
// files too).
//
// Book blocks marked `fragment=KIND` are pieces of a declaration; they are
// tokenized inside the same wrapper tests/book.rs parses them in, and only
// the fragment's own lines are pinned.
//
//   npm test                    compare; exit 1 on any difference
//   npm run update-snapshots    rewrite the snapshots (then review the diff)
//
// A snapshot with no input left is an error too (and is deleted by
// `--update`).

"use strict";

const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const EXTENSION = path.resolve(__dirname, "..");
const REPO = path.resolve(EXTENSION, "..", "..");
const SNAPSHOTS = path.join(__dirname, "snapshots");
const GRAMMAR = path.join(EXTENSION, "syntaxes", "bpl.tmLanguage.json");
const UPDATE = process.argv.includes("--update") || process.env.UPDATE_SNAPSHOTS === "1";

function walk(dir, suffix) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "target" || entry.name === "node_modules") continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(full, suffix));
    else if (entry.name.endsWith(suffix)) out.push(full);
  }
  return out.sort();
}

// The text a `fragment=KIND` block is wrapped in, as in tests/book.rs.
function wrapper(kind) {
  if (["source", "reference", "dataset"].includes(kind)) return [`${kind} _ {\n`, "}\n"];
  if (["compute", "quality", "reconcile", "corrections", "columns"].includes(kind)) {
    return [`dataset _ {\n${kind} {\n`, "}\n}\n"];
  }
  if (kind === "expr") return ["check _() = ", "\n"];
  throw new Error(`unknown fragment kind ${kind}`);
}

// The ```bpl blocks of a Markdown page: { line, text, before, after }.
function blocks(markdown) {
  const lines = markdown.split("\n");
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i].trimStart();
    if (!trimmed.startsWith("```")) continue;
    const indent = lines[i].length - trimmed.length;
    const ticks = trimmed.length - trimmed.replace(/^`+/, "").length;
    const fence = trimmed.slice(0, ticks);
    const words = trimmed.slice(ticks).split(/[,\s]+/).filter(Boolean);
    const body = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j];
      if (l.trimStart().startsWith(fence) && l.trim().replace(/^`+/, "") === "") break;
      const cut = Math.min(l.length - l.trimStart().length, indent);
      body.push(l.slice(cut));
    }
    if (words[0] === "bpl") {
      const fragment = words.slice(1).find((w) => w.startsWith("fragment="));
      const [before, after] = fragment ? wrapper(fragment.slice("fragment=".length)) : ["", ""];
      out.push({ line: i + 1, text: body.join("\n") + "\n", before, after });
    }
    i = j;
  }
  return out;
}

// Snapshot text of `text` tokenized after `before` (whose lines are not
// shown).
function snapshot(grammar, text, before = "") {
  let stack = vsctm.INITIAL;
  for (const line of before.split("\n").slice(0, -1)) {
    stack = grammar.tokenizeLine(line, stack).ruleStack;
  }
  const lines = text.replace(/\n$/, "").split("\n");
  let out = "";
  for (const line of lines) {
    const result = grammar.tokenizeLine(line, stack);
    stack = result.ruleStack;
    out += `>${line}\n`;
    for (const token of result.tokens) {
      const scopes = token.scopes.filter((s) => s !== "source.bpl");
      const end = Math.min(token.endIndex, line.length);
      if (scopes.length === 0 || end <= token.startIndex) continue;
      const tokenText = line.slice(token.startIndex, end);
      if (tokenText.trim() === "" && scopes.every((s) => !s.startsWith("string") && !s.startsWith("comment"))) continue;
      out += " " + " ".repeat(token.startIndex) + "^".repeat(end - token.startIndex) + " " + scopes.join(" ") + "\n";
    }
  }
  return out;
}

async function main() {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === "source.bpl" ? vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR, "utf8"), GRAMMAR) : null,
  });
  const grammar = await registry.loadGrammar("source.bpl");

  // snapshot path (relative to SNAPSHOTS) -> expected text
  const expected = new Map();
  for (const file of walk(path.join(REPO, "examples"), ".bpl")) {
    const rel = path.relative(REPO, file);
    expected.set(rel + ".snap", snapshot(grammar, fs.readFileSync(file, "utf8")));
  }
  let blockCount = 0;
  for (const file of walk(path.join(REPO, "book", "src"), ".md")) {
    const found = blocks(fs.readFileSync(file, "utf8"));
    if (found.length === 0) continue;
    let text = "";
    for (const b of found) {
      blockCount++;
      text += `## ${path.relative(REPO, file)}:${b.line}\n` + snapshot(grammar, b.text, b.before);
    }
    expected.set(path.relative(REPO, file) + ".snap", text);
  }

  const failures = [];
  let written = 0;
  for (const [rel, text] of expected) {
    const target = path.join(SNAPSHOTS, rel);
    const actual = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : null;
    if (actual === text) continue;
    if (UPDATE) {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, text);
      written++;
    } else {
      failures.push(actual === null ? `missing snapshot: ${rel}` : `changed: ${rel}\n${firstDifference(actual, text)}`);
    }
  }
  const stale = fs.existsSync(SNAPSHOTS)
    ? walk(SNAPSHOTS, ".snap").map((f) => path.relative(SNAPSHOTS, f)).filter((rel) => !expected.has(rel))
    : [];
  for (const rel of stale) {
    if (UPDATE) fs.unlinkSync(path.join(SNAPSHOTS, rel));
    else failures.push(`snapshot without an input: ${rel}`);
  }

  console.log(
    `grammar snapshots: ${expected.size} files (${blockCount} book blocks)` +
      (UPDATE ? `, ${written} written, ${stale.length} stale removed` : "")
  );
  if (failures.length > 0) {
    for (const f of failures) console.error(f + "\n");
    console.error(`${failures.length} snapshot(s) differ; run \`npm run update-snapshots\` in editors/vscode and review the diff`);
    process.exitCode = 1;
  }
}

function firstDifference(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) {
      return `  line ${i + 1}\n  - ${x[i] === undefined ? "(end)" : x[i]}\n  + ${y[i] === undefined ? "(end)" : y[i]}`;
    }
  }
  return "";
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
