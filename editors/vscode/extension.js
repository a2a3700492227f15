// The bpl extension: highlighting and snippets are static (package.json);
// this file starts the language server, `bplc lsp`, when it can find `bplc`:
// at `bpl.server.path` if set, else on PATH. Without it, or if it fails to
// start, the extension stays a highlighter and says why in the `bpl` output
// channel, once, without a pop-up.

"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const vscode = require("vscode");

let client = null;
let output = null;

function log(message) {
  if (output) output.appendLine(message);
}

function isExecutable(file) {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return false;
    if (process.platform === "win32") return true;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// `~` and `${workspaceFolder}` in a configured path.
function expand(configured) {
  let p = configured.trim();
  if (p.startsWith("~")) p = path.join(os.homedir(), p.slice(1));
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  if (folder) p = p.replace(/\$\{workspaceFolder\}/g, folder.uri.fsPath);
  return p;
}

// The bplc executable to run, or null (with the reason logged).
function findServer(config) {
  const configured = config.get("server.path", "");
  if (configured && configured.trim() !== "") {
    const p = expand(configured);
    if (isExecutable(p)) return p;
    log(`bpl.server.path is "${configured}", which is not an executable file; highlighting only.`);
    return null;
  }
  const names = process.platform === "win32" ? ["bplc.exe", "bplc.cmd", "bplc"] : ["bplc"];
  for (const dir of (process.env.PATH || "").split(path.delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  log("`bplc` is not on PATH and bpl.server.path is not set; highlighting only. " +
      "Install bplc (`cargo install --path .` in the bplc repository) or set bpl.server.path.");
  return null;
}

async function start(context) {
  const config = vscode.workspace.getConfiguration("bpl");
  if (!config.get("server.enabled", true)) {
    log("bpl.server.enabled is off; highlighting only.");
    return;
  }
  const command = findServer(config);
  if (!command) return;
  // Loaded only when there is a server to talk to.
  const { LanguageClient } = require("vscode-languageclient/node");
  const serverOptions = {
    run: { command, args: ["lsp"] },
    debug: { command, args: ["lsp"] },
  };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "bpl" },
      { scheme: "untitled", language: "bpl" },
    ],
    outputChannel: output,
  };
  const next = new LanguageClient("bpl", "bpl language server", serverOptions, clientOptions);
  try {
    await next.start();
    client = next;
    log(`started ${command} lsp`);
  } catch (e) {
    log(`could not start ${command} lsp: ${e && e.message ? e.message : e}; highlighting only.`);
    try {
      await next.dispose();
    } catch {
      // Already gone.
    }
  }
}

async function stop() {
  const running = client;
  client = null;
  if (running) {
    try {
      await running.stop();
    } catch (e) {
      log(`stopping the language server: ${e && e.message ? e.message : e}`);
    }
  }
}

async function restart(context) {
  await stop();
  await start(context);
}

async function activate(context) {
  output = vscode.window.createOutputChannel("bpl");
  context.subscriptions.push(output);
  context.subscriptions.push(
    vscode.commands.registerCommand("bpl.restartServer", () => restart(context)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("bpl.server")) restart(context);
    })
  );
  await start(context);
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate, findServer };
