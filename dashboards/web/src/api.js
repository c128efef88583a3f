// REST calls with the session's bearer token. A refusal becomes an ApiError carrying the server's stable
// code (or one derived from the HTTP status), which the page translates; the English detail is kept for logs.
import { store } from "./store.js";

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code);
    this.status = status;
    this.code = code;
  }
}

const STATUS_CODES = { 400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid" };

export async function api(path, opts = {}) {
  const headers = { Accept: "application/json", ...(opts.headers || {}) };
  const token = store.get().token;
  if (token) headers.Authorization = "Bearer " + token;
  let body = opts.body;
  if (body !== undefined && typeof body !== "string") {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, { ...opts, body, headers });
  } catch (e) {
    throw new ApiError(0, "network", String(e));
  }
  const text = await r.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch (e) {
    doc = null;
  }
  if (!r.ok) {
    const code = (doc && doc.code) || STATUS_CODES[r.status] || "server_error";
    if (r.status === 401 && !path.endsWith("/auth/login")) onUnauthorized();
    throw new ApiError(r.status, code, doc && doc.detail);
  }
  return doc;
}

let unauthorizedHandler = () => {};
export function setUnauthorizedHandler(f) {
  unauthorizedHandler = f;
}
function onUnauthorized() {
  unauthorizedHandler();
}
