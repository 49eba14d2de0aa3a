// Calls to the Uptime API. Every call carries the API key or token kept in
// this browser; when the server answers 401 (a change on a server with a
// key or users, or any read on one whose reads are private), the page asks
// for one and tries again.

const keyName = "uptime.apiKey";

/** An error the server answered with, in Encore's shape. */
export class APIError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The server could not be reached at all. */
export class ConnectionError extends Error {}

let askForKey = null;
let csrf = "";
let signedIn = false;

/** Notes the signed-in session's CSRF token, sent with every change; a
 * 401 then means the session ended, and the page signs in again. */
export function useSession(token) {
  csrf = token;
  signedIn = true;
}

/** Sets the function that asks the user for an API key; it resolves to the
 * key, or to null when the user declines. */
export function onKeyNeeded(fn) {
  askForKey = fn;
}

/** Sends a request and returns the decoded JSON body, or null for an empty
 * one. Throws APIError or ConnectionError. */
export async function call(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = localStorage.getItem(keyName);
    if (key && !signedIn) headers["Authorization"] = "Bearer " + key;
    if (csrf && method !== "GET") headers["X-CSRF-Token"] = csrf;
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ConnectionError("Cannot reach the Uptime server. Is it running?");
    }
    if (resp.status === 401 && signedIn) {
      location.reload(); // the session ended: sign in again
      throw new APIError(401, "unauthenticated", "The session has ended. Sign in again.");
    }
    if (resp.status === 401 && askForKey && attempt < 3) {
      const given = await askForKey(attempt > 0 || Boolean(key));
      if (!given) throw new APIError(401, "unauthenticated", "This needs the server's API key or a token.");
      localStorage.setItem(keyName, given);
      continue;
    }
    const text = await resp.text();
    if (!resp.ok) {
      let e;
      try {
        e = JSON.parse(text);
      } catch {
        e = { code: "unknown", message: text || resp.statusText };
      }
      throw new APIError(resp.status, e.code, e.message || resp.statusText, e.details);
    }
    return text ? JSON.parse(text) : null;
  }
}
