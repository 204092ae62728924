// client.mjs: the tokend client for JavaScript functions, as a dependency-free ES module
// (Node 20+) with no side effects: importing it installs nothing.
//
//   import { createAuthConnection } from "./client.mjs";
//   const ac = createAuthConnection();                 // TAILOR_TOKEND_URL, TAILOR_TOKEND_API_KEY
//   const t = await ac.getConnectionToken("google-oauth");
//   // t = { access_token, token_type, expires_at, metadata, api_base_url }
//   //     (expires_at: RFC 3339 string; metadata: {realmId, instance_url, ...} or {}; api_base_url or null)
//   const c = await ac.getConnection("quickbooks-oauth");  // no token: { name, status, metadata, api_base_url, ... }
//   const res = await ac.fetch("quickbooks-oauth", `v3/company/${c.metadata.realmId}/companyinfo/${c.metadata.realmId}`);
//
// tailor-authconnection.mjs builds on it and installs globalThis.tailor.authconnection, as the
// Function runtime of the hosted original does.
//
// Configuration comes from the options or the environment:
//   TAILOR_TOKEND_URL      base URL of tokend, e.g. http://127.0.0.1:8787 (required)
//   TAILOR_TOKEND_API_KEY  API key from `tokend keys create` (empty only for --insecure-no-auth)
//
// Errors are AuthConnectionError with .code (tokend's codes: not_found, invalid_name,
// not_authorized, needs_reauthorization, unavailable, unauthenticated, forbidden, internal;
// and unreachable, config, bad_response), .status (HTTP status, 0 when tokend was not asked),
// .connection and, for unavailable, .retryAfter (seconds). The message says what to do; it
// never contains a token or the key.

const DEFAULT_TIMEOUT_MS = 35_000;

/**
 * NAME_PATTERN is the rule for connection names, the same regular expression as Go's
 * authconn.NamePattern (internal/authconn/jsrule_test.go checks that both accept exactly
 * the same names).
 */
export const NAME_PATTERN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
const NAME_RE = new RegExp(NAME_PATTERN);

/** validName reports whether name is a valid connection name. */
export function validName(name) {
  return typeof name === "string" && NAME_RE.test(name);
}

export class AuthConnectionError extends Error {
  constructor(message, { code, status = 0, connection, retryAfter, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = "AuthConnectionError";
    this.code = code;
    this.status = status;
    this.connection = connection;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }

  /** True when retrying later may succeed (provider or tokend temporarily unavailable). */
  get retryable() {
    return this.code === "unavailable" || this.code === "unreachable";
  }
}

/**
 * Creates a client. options: { url, apiKey, timeoutMs, fetch }; defaults from the environment.
 */
export function createAuthConnection(options = {}) {
  const env = globalThis.process?.env ?? {};
  const base = (options.url ?? env.TAILOR_TOKEND_URL ?? "").replace(/\/+$/, "");
  const apiKey = options.apiKey ?? env.TAILOR_TOKEND_API_KEY ?? "";
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const doFetch = options.fetch ?? globalThis.fetch;

  // getJSON asks tokend GET /v1/connections/{name}{suffix} and returns the JSON answer, or
  // throws the AuthConnectionError of tokend's refusal.
  async function getJSON(name, suffix) {
    checkName(name);
    if (!base) {
      throw new AuthConnectionError(
        "TAILOR_TOKEND_URL is not set: set it to the URL of tokend serve (e.g. http://127.0.0.1:8787)",
        { code: "config", connection: name },
      );
    }
    const headers = { Accept: "application/json" };
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
    let res;
    try {
      res = await doFetch(`${base}/v1/connections/${encodeURIComponent(name)}${suffix}`, {
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new AuthConnectionError(
        `cannot reach tokend at ${base}: ${err?.cause?.code ?? err?.name ?? "error"}; check TAILOR_TOKEND_URL and that tokend serve runs`,
        { code: "unreachable", status: 0, connection: name, cause: err },
      );
    }
    let body;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const code = body?.error ?? `http_${res.status}`;
      const retry = Number.parseInt(res.headers.get("retry-after") ?? "", 10);
      throw new AuthConnectionError(body?.message ?? `tokend answered ${res.status}`, {
        code,
        status: res.status,
        connection: name,
        retryAfter: Number.isFinite(retry) ? retry : undefined,
      });
    }
    return { res, body };
  }

  async function getConnectionToken(name) {
    const { res, body } = await getJSON(name, "/token");
    if (!body || typeof body.access_token !== "string" || !body.access_token) {
      throw new AuthConnectionError("tokend's answer has no access_token", {
        code: "bad_response",
        status: res.status,
        connection: name,
      });
    }
    return {
      access_token: body.access_token,
      token_type: body.token_type ?? "Bearer",
      expires_at: body.expires_at,
      // What the API needs besides the token (QuickBooks realmId, Salesforce instance_url, ...),
      // as the connection's catalog entry declares it; {} and null when it declares none.
      metadata: body.metadata && typeof body.metadata === "object" ? { ...body.metadata } : {},
      api_base_url: typeof body.api_base_url === "string" ? body.api_base_url : null,
    };
  }

  /**
   * getConnection(name) returns the connection's non-secret view, what a function needs
   * besides the token: { name, status, metadata, api_base_url, expires_at, cached, ... }
   * (metadata {} and api_base_url null when there are none). Any permission on the
   * connection suffices, so a proxy-only key learns the realmId it puts in its paths.
   * Never a token. A connection the key may not use is forbidden (403), a missing one not_found.
   */
  async function getConnection(name) {
    const { res, body } = await getJSON(name, "");
    if (!body || typeof body.name !== "string") {
      throw new AuthConnectionError("tokend's answer is not a connection", { code: "bad_response", status: res.status, connection: name });
    }
    return {
      ...body,
      metadata: body.metadata && typeof body.metadata === "object" ? { ...body.metadata } : {},
      api_base_url: typeof body.api_base_url === "string" ? body.api_base_url : null,
    };
  }

  /**
   * fetch(name, path, init) sends an API request through tokend's proxy
   * (/v1/connections/{name}/proxy/{path}): tokend adds the connection's access token, so the
   * function never holds it. Same shape as fetch: init's method, headers, body (streams too)
   * and signal pass; the Response streams back as the API answered it. An answer of tokend's
   * own (not authorized, needs re-authorization, host not allowed, rate limited, ...) carries
   * the header tailor-proxy-error and tokend's JSON error body; tailor-proxy-attempts says
   * how many upstream attempts were made. The API key needs the proxy permission
   * (tokend keys create --allow proxy).
   */
  async function proxyFetch(name, path = "", init = {}) {
    checkName(name);
    if (!base) {
      throw new AuthConnectionError(
        "TAILOR_TOKEND_URL is not set: set it to the URL of tokend serve (e.g. http://127.0.0.1:8787)",
        { code: "config", connection: name },
      );
    }
    const headers = new Headers(init.headers ?? {});
    if (apiKey) headers.set("Authorization", `Bearer ${apiKey}`);
    const rel = String(path).replace(/^\/+/, "");
    const opts = { ...init, headers };
    if (init.body && typeof init.body.getReader === "function") opts.duplex = "half"; // a streamed upload
    try {
      return await doFetch(`${base}/v1/connections/${encodeURIComponent(name)}/proxy/${rel}`, opts);
    } catch (err) {
      if (err?.name === "AbortError" || err?.name === "TimeoutError") throw err;
      throw new AuthConnectionError(
        `cannot reach tokend at ${base}: ${err?.cause?.code ?? err?.name ?? "error"}; check TAILOR_TOKEND_URL and that tokend serve runs`,
        { code: "unreachable", status: 0, connection: name, cause: err },
      );
    }
  }

  return { getConnectionToken, getConnection, fetch: proxyFetch };
}

// checkName throws the invalid_name error for a name tokend would refuse, before any request.
function checkName(name) {
  if (!validName(name)) {
    throw new AuthConnectionError(
      `invalid connection name ${JSON.stringify(name)}: use 1 to 63 characters: lowercase letters, digits and hyphens, starting and ending with a letter or digit (e.g. google-oauth-prod)`,
      { code: "invalid_name", status: 0, connection: String(name) },
    );
  }
}
