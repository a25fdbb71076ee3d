// The management API as the dashboard calls it: JSON in and out, the CSRF token on every write,
// the API's own error message on failure, and the login page when the session is gone.

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(method, path, body, { raw = false, signal } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", signal };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf();
  if (body instanceof FormData || body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401 && !path.startsWith("/api/auth/")) {
    location.assign(`/dashboard/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new ApiError(401, "your session has ended; log in again");
  }
  if (raw) {
    if (!resp.ok) throw new ApiError(resp.status, await errorText(resp));
    return resp;
  }
  if (!resp.ok) throw new ApiError(resp.status, await errorText(resp));
  const text = await resp.text();
  return text ? JSON.parse(text) : {};
}

async function errorText(resp) {
  const text = await resp.text();
  try {
    const data = JSON.parse(text);
    const err = data.error;
    if (typeof err === "string") return err;
    if (err && typeof err.message === "string") return err.message;
    return text.slice(0, 300);
  } catch {
    return text.slice(0, 300) || `${resp.status} ${resp.statusText}`;
  }
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const post = (path, body, opts) => api("POST", path, body, opts);
export const put = (path, body, opts) => api("PUT", path, body, opts);
export const patch = (path, body, opts) => api("PATCH", path, body, opts);
export const del = (path, opts) => api("DELETE", path, undefined, opts);
export { csrf };
