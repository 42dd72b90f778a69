// The staff app's service worker: shows each theft alert pushed to this phone, tells the server it arrived
// and was seen, and claims the alert from the notification's "I'm on it". Its own texts are in the language
// of the staff page that last opened on this phone: the page hands them over (a push carries the alert's
// title and body, already in the person's language, but not these).
"use strict";

const ICON = new URL("../static/staff-icon-192.png", self.location).href;
const TEXTS_CACHE = "staff-texts";
const TEXTS_KEY = new URL("texts", self.location).href;
// Until a page has handed its texts over.
const ENGLISH = {
  claim: "I'm on it",
  open: "Open",
  yours: "You are on it.",
  theirs: "%(holder)s is on it.",
  lost: "The claim did not get through: open the alert to try again.",
  names: {},
};

// This worker keeps no page in a cache, so a new version may take over at once.
self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("message", (event) => {
  if (event.data && event.data.texts) {
    const kept = caches.open(TEXTS_CACHE).then((cache) => cache.put(TEXTS_KEY, Response.json(event.data.texts)));
    event.waitUntil(kept);
  }
});

async function texts() {
  try {
    const kept = await (await caches.open(TEXTS_CACHE)).match(TEXTS_KEY);
    return kept ? { ...ENGLISH, ...(await kept.json()) } : ENGLISH;
  } catch (unavailable) {
    return ENGLISH;
  }
}

function say(words, key, values = {}) {
  return words[key].replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
}

function linkOf(alert) {
  return alert.action_url ? new URL(alert.action_url).pathname.split("/").pop() : null;
}

async function report(alert, state) {
  const link = linkOf(alert);
  if (!alert.receipt_url || !link) {
    return;
  }
  try {
    await fetch(alert.receipt_url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ state, link }),
    });
  } catch (offline) {
    // A lost receipt only leaves the delivery unconfirmed: the alert is on the screen all the same.
  }
}

async function showAlert(alert) {
  const words = await texts();
  const actions = [{ action: "claim", title: words.claim }, { action: "open", title: words.open }];
  await self.registration.showNotification(alert.title, {
    body: alert.body,
    tag: alert.alert_uuid,
    renotify: true,
    requireInteraction: alert.severity === "critical",
    icon: ICON,
    data: alert,
    actions: alert.action_url ? actions : [],
  });
  await report(alert, "received");
}

async function claimText(alert) {
  const words = await texts();
  try {
    const claimed = await fetch(`${alert.action_url}/claim`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "",
    });
    if (!claimed.ok) {
      return (await claimed.json()).message;
    }
    const answer = await fetch(`${alert.action_url}/state`, { headers: { Accept: "application/json" } });
    const state = await answer.json();
    const holder = words.names[state.claimed_by] || state.claimed_by;
    return state.claimed_by_you ? say(words, "yours") : say(words, "theirs", { holder });
  } catch (error) {
    return say(words, "lost");
  }
}

async function claim(alert) {
  const text = await claimText(alert);
  // The same tag: the answer replaces the alert, quietly.
  await self.registration.showNotification(text, {
    body: alert.title,
    tag: alert.alert_uuid,
    icon: ICON,
    data: alert,
  });
}

async function openPage(alert) {
  const target = new URL(alert.action_url || alert.video_url);
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => {
    const url = new URL(client.url);
    return url.origin === target.origin && url.pathname === target.pathname;
  });
  return open ? open.focus() : self.clients.openWindow(target.href);
}

async function handleClick(event) {
  const alert = event.notification.data;
  event.notification.close();
  const seen = report(alert, "seen");
  const done = event.action === "claim" && alert.action_url ? claim(alert) : openPage(alert);
  await Promise.all([seen, done]);
}

self.addEventListener("push", (event) => {
  if (event.data) {
    event.waitUntil(showAlert(event.data.json()));
  }
});

self.addEventListener("notificationclick", (event) => event.waitUntil(handleClick(event)));
