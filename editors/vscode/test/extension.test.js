#!/usr/bin/env node
// The part of extension.js that runs outside VS Code's API: finding `bplc`.
// A stand-in `vscode` module is enough for it; starting the client itself
// needs VS Code.

"use strict";

const assert = require("assert");
const fs = require("fs");
const os = require("os");
const path = require("path");
const Module = require("module");

const settings = {};
const vscode = {
  workspace: {
    workspaceFolders: [{ uri: { fsPath: "/ws" } }],
    getConfiguration: () => ({ get: (key, fallback) => (key in settings ? settings[key] : fallback) }),
  },
  window: { createOutputChannel: () => ({ appendLine() {} }) },
};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === "vscode" ? "vscode" : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: vscode };

const { findServer } = require("../extension.js");
const config = vscode.workspace.getConfiguration("bpl");

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bpl-ext-"));
const exe = path.join(dir, process.platform === "win32" ? "bplc.exe" : "bplc");
fs.writeFileSync(exe, "#!/bin/sh\n");
fs.chmodSync(exe, 0o755);

// On PATH.
process.env.PATH = [path.join(dir, "missing"), dir].join(path.delimiter);
assert.strictEqual(findServer(config), exe);
// Not on PATH: highlighting only.
process.env.PATH = path.join(dir, "missing");
assert.strictEqual(findServer(config), null);
// A configured path wins, and must be an executable file.
settings["server.path"] = exe;
assert.strictEqual(findServer(config), exe);
settings["server.path"] = path.join(dir, "nope");
assert.strictEqual(findServer(config), null);
settings["server.path"] = dir;
assert.strictEqual(findServer(config), null);

fs.rmSync(dir, { recursive: true, force: true });
console.log("extension: finding bplc works");
