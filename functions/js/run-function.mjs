#!/usr/bin/env node
// run-function.mjs FILE: runs a function module (export default async () => ...) the way
// the Function runtime does: with globalThis.tailor.authconnection installed, then prints
// its result as JSON.
//
// For local demos without the real provider, TAILOR_FETCH_REWRITE maps URL prefixes the
// function calls to local ones, so a function written for Google runs unchanged against a
// local OIDC provider:
//   TAILOR_FETCH_REWRITE='https://www.googleapis.com/oauth2/v2/userinfo=http://127.0.0.1:4444/userinfo'
// (several mappings separated by spaces).
import { pathToFileURL } from "node:url";
import path from "node:path";
import "./tailor-authconnection.mjs";

const rewrites = (process.env.TAILOR_FETCH_REWRITE ?? "")
  .split(/\s+/)
  .filter(Boolean)
  .map((m) => {
    const i = m.indexOf("=");
    return [m.slice(0, i), m.slice(i + 1)];
  });
if (rewrites.length > 0) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    let url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    for (const [from, to] of rewrites) {
      if (url.startsWith(from)) {
        url = to + url.slice(from.length);
        break;
      }
    }
    return realFetch(url, init);
  };
}

const file = process.argv[2];
if (!file) {
  console.error("usage: run-function.mjs FUNCTION_FILE");
  process.exit(2);
}
const mod = await import(pathToFileURL(path.resolve(file)).href);
try {
  const result = await mod.default();
  console.log(JSON.stringify(result, null, 2));
} catch (err) {
  console.error(`function failed: ${err?.name}: ${err?.message}${err?.code ? ` (code ${err.code}, status ${err.status})` : ""}`);
  process.exit(1);
}
