import assert from "node:assert/strict";
import { test } from "node:test";

import { endpoints } from "../endpoints.js";
import {
  apiBase,
  fragmentWithoutKey,
  keyFromFragment,
  keyToUse,
  maskedKey,
  normalizeFilters,
  queryString,
  requestUrl,
  webSocketUrl,
} from "../urls.js";

test("the API base is the path in front of /dashboard", () => {
  const cases = [
    ["/dashboard", ""],
    ["/dashboard/", ""],
    ["/dashboard/app.js", ""],
    ["/prod/dashboard", "/prod"],
    ["/a/b/dashboard", "/a/b"],
    ["/", ""],
    ["", ""],
  ];
  for (const [path, base] of cases) assert.equal(apiBase(path), base, path);
});

test("query strings leave out unset values and encode the rest", () => {
  assert.equal(queryString({}), "");
  assert.equal(queryString({ status: "", queue_name: null, offset: undefined }), "");
  assert.equal(queryString({ status: "pending", limit: 50, offset: 0 }), "?status=pending&limit=50&offset=0");
  assert.equal(queryString({ queue_name: "a b&c" }), "?queue_name=a+b%26c");
});

test("request URLs carry the filters the user chose", () => {
  const url = requestUrl("", endpoints.jobs({ status: "deadletter", queue: "emails" }, 50));
  assert.equal(url, "/api/v1/jobs?status=deadletter&queue_name=emails&limit=50&offset=50");
  assert.equal(requestUrl("/prod", endpoints.jobs({ status: "", queue: "" })), "/prod/api/v1/jobs?limit=50&offset=0");
  assert.equal(requestUrl("", endpoints.deadLetter("")), "/api/v1/jobs/dlq?limit=50&offset=0");
});

test("path parameters are encoded as one segment", () => {
  assert.equal(endpoints.job("a/b?c").path, "/api/v1/jobs/a%2Fb%3Fc");
  assert.equal(endpoints.queueStats("emails.v2").path, "/api/v1/queues/emails.v2/stats");
});

test("a DLQ retry names the queue only when one is chosen", () => {
  assert.deepEqual(endpoints.retryDeadLetter("emails").body, { queue_name: "emails" });
  assert.deepEqual(endpoints.retryDeadLetter("").body, {});
});

test("the socket URL follows the page's scheme and host and carries the key", () => {
  assert.equal(
    webSocketUrl({ protocol: "http:", host: "127.0.0.1:8080" }, "", "sp_test_abc"),
    "ws://127.0.0.1:8080/api/v1/ws?token=sp_test_abc",
  );
  assert.equal(
    webSocketUrl({ protocol: "https:", host: "jobs.example.com" }, "/prod", "k+/="),
    "wss://jobs.example.com/prod/api/v1/ws?token=k%2B%2F%3D",
  );
});

test("filters keep only values the API accepts", () => {
  assert.deepEqual(normalizeFilters({ status: " Pending ", queue: " emails " }), { status: "pending", queue: "emails" });
  assert.deepEqual(normalizeFilters({ status: "exploded", queue: "-bad" }), { status: "", queue: "" });
  assert.deepEqual(normalizeFilters({ queue: "x".repeat(101) }), { status: "", queue: "" });
  assert.deepEqual(normalizeFilters(undefined), { status: "", queue: "" });
});

test("the key comes from the fragment and is then removed from it", () => {
  assert.equal(keyFromFragment("#key=sp_test_123"), "sp_test_123");
  assert.equal(keyFromFragment("#tab=jobs&key=sp_test_123"), "sp_test_123");
  assert.equal(keyFromFragment("#key="), null);
  assert.equal(keyFromFragment(""), null);
  assert.equal(keyFromFragment("#other=1"), null);
  assert.equal(fragmentWithoutKey("#key=sp_test_123"), "");
  assert.equal(fragmentWithoutKey("#tab=jobs&key=sp_test_123"), "#tab=jobs");
});

test("a #key= link signs in only after the visitor agrees", () => {
  const asked = [];
  const no = (question) => {
    asked.push(question);
    return false;
  };
  const yes = (question) => {
    asked.push(question);
    return true;
  };
  assert.equal(keyToUse("sp_live_theirs0001", null, no), null);
  assert.equal(keyToUse("sp_live_theirs0001", "sp_live_mine0002", no), "sp_live_mine0002");
  assert.equal(keyToUse("sp_live_theirs0001", null, yes), "sp_live_theirs0001");
  assert.equal(asked.length, 3);
  assert.ok(asked[0].includes("sp_live_…0001") && !asked[0].includes("theirs"));
  // Nothing to ask: no link key, or the key this tab already uses.
  assert.equal(keyToUse(null, "sp_live_mine0002", no), "sp_live_mine0002");
  assert.equal(keyToUse("sp_live_mine0002", "sp_live_mine0002", no), "sp_live_mine0002");
  assert.equal(keyToUse(null, null, no), null);
  assert.equal(asked.length, 3);
  assert.equal(maskedKey("plainkey1234"), "…1234");
});
