// URL building: the API base under which the dashboard is served, request URLs with their query
// strings, the WebSocket URL, the job filters, and the sign-in key carried in the fragment.

export const JOB_STATUSES = [
  "pending",
  "scheduled",
  "processing",
  "completed",
  "failed",
  "deadletter",
  "cancelled",
];

// Queue names as the API accepts them (contract §2.4): anything else is dropped rather than sent.
const QUEUE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

/** The path prefix the API lives under, from the dashboard page's own path ("/dashboard" → ""). */
export function apiBase(pathname) {
  const match = /^(.*?)\/dashboard(?:\/[^/]*)?$/.exec(pathname || "");
  return match ? match[1] : "";
}

/** "?a=1&b=x" from the values that are set; "" when none is. */
export function queryString(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    search.append(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export function requestUrl(base, endpoint) {
  return `${base}${endpoint.path}${queryString(endpoint.query)}`;
}

/**
 * The live-updates socket on the page's own host. Browsers cannot set headers on a WebSocket,
 * so the key goes in the query string, as the contract (§2.11) and the SDK do.
 */
export function webSocketUrl(location, base, token) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${base}/api/v1/ws${queryString({ token })}`;
}

/** Invalid filter values are dropped, as the API itself ignores them. */
export function normalizeFilters(filters) {
  const status = String(filters?.status ?? "").trim().toLowerCase();
  const queue = String(filters?.queue ?? "").trim();
  return {
    status: JOB_STATUSES.includes(status) ? status : "",
    queue: QUEUE_NAME.test(queue) ? queue : "",
  };
}

function fragmentParams(hash) {
  return new URLSearchParams(String(hash || "").replace(/^#/, ""));
}

/**
 * The API key from a `#key=...` fragment. A fragment never leaves the browser, unlike a query
 * string, which would land in server and proxy logs.
 */
export function keyFromFragment(hash) {
  const key = fragmentParams(hash).get("key");
  return key && key.trim() ? key.trim() : null;
}

/** "sp_live_…9f2c": enough to recognise a key, not enough to use it. */
export function maskedKey(key) {
  const text = String(key || "");
  const prefix = /^(sp|sk)_(live|test)_/.exec(text)?.[0] || "";
  return `${prefix}…${text.slice(-4)}`;
}

export function linkSignInQuestion(key) {
  return (
    `This link signs you in with the API key ${maskedKey(key)}. You would see and act on that ` +
    "key's organization, which may not be yours. Only continue if you expected this link. Sign in?"
  );
}

/**
 * The key to sign in with when the page opens: a `#key=` link's key only once the visitor has said
 * yes (`ask` shows the question), since anyone can send a link that signs the visitor into their
 * organization; otherwise the key this tab already used, if any.
 */
export function keyToUse(fragmentKey, storedKey, ask) {
  if (!fragmentKey || fragmentKey === storedKey) return storedKey || null;
  return ask(linkSignInQuestion(fragmentKey)) ? fragmentKey : storedKey || null;
}

/** The fragment without its key, so the key does not stay in the address bar or the history. */
export function fragmentWithoutKey(hash) {
  const params = fragmentParams(hash);
  params.delete("key");
  const rest = params.toString();
  return rest ? `#${rest}` : "";
}
