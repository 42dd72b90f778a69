// The staff page, kept current: every few seconds it re-reads who is on it and who was told. Where the
// browser can take Web Push, it offers alerts on this phone, shown by the app's service worker (/s/sw.js).
"use strict";

const body = document.body;
const stateUrl = body.dataset.stateUrl;
// The page's texts in the person's language, rendered by the server from the message catalog.
const texts = JSON.parse(document.getElementById("texts").textContent);

function say(key, values = {}) {
  return texts[key].replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
}

function named(name) {
  return texts.names[name] || name;
}

function showClaim(state) {
  const text = state.claimed_by_you
    ? say("yours")
    : state.claimed_by ? say("theirs", { holder: named(state.claimed_by) }) : say("nobody");
  document.getElementById("claim-state").textContent = text;
  document.getElementById("claim-form").hidden = Boolean(state.claimed_by);
}

function showTold(state) {
  const list = document.getElementById("told-list");
  list.replaceChildren(...state.told.map((person) => {
    const item = document.createElement("li");
    item.append(named(person.name));
    if (!person.reached) {
      const detail = document.createElement("span");
      detail.className = "dim";
      detail.textContent = say("not_reached");
      item.append(" ", detail);
    }
    return item;
  }));
}

async function refresh() {
  try {
    const answer = await fetch(stateUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (answer.ok) {
      const state = await answer.json();
      showClaim(state);
      showTold(state);
    }
  } catch (error) {
    // Offline for a moment: the next round tries again.
  }
}

setInterval(refresh, Number(body.dataset.poll) || 5000);

// Opened in a browser, not by a link preview: the ladder need not reach this person by its later steps.
fetch(body.dataset.openedUrl, { method: "POST" }).catch(() => {});

function keyBytes(base64url) {
  return Uint8Array.from(atob(base64url.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
}

function showAlertMe(text, failed) {
  const result = document.getElementById("alert-me-result");
  result.textContent = text;
  result.className = failed ? "error" : "notice";
  result.hidden = false;
}

async function refusal(answer) {
  try {
    const error = await answer.json();
    const reasons = Object.values(error.errors || {}).flat();
    return [error.message, ...reasons].filter(Boolean).join(" ");
  } catch (notJson) {
    return say("refused", { status: answer.status });
  }
}

async function alertMe(publicKey) {
  const button = document.getElementById("alert-me");
  button.disabled = true;
  try {
    if ((await Notification.requestPermission()) !== "granted") {
      showAlertMe(say("blocked"), true);
      return;
    }
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(publicKey),
    });
    const answer = await fetch(body.dataset.subscriptionUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(subscription.toJSON()),
    });
    if (answer.ok) {
      const point = await answer.json();
      // A link never turns a phone back on that was turned off: only a manager or the user's own app does.
      if (point.enabled) {
        showAlertMe(say("subscribed"), false);
      } else {
        showAlertMe(say("turned_off"), true);
      }
      button.hidden = true;
    } else {
      showAlertMe(await refusal(answer), true);
    }
  } catch (error) {
    showAlertMe(say("cannot", { reason: error.message }), true);
  } finally {
    button.disabled = false;
  }
}

async function offerPhoneAlerts() {
  if (!("serviceWorker" in navigator)) {
    return;
  }
  const script = new URL(body.dataset.serviceWorker, location.href);
  // The folder of the worker's script, /s/: one worker for every staff page.
  await navigator.serviceWorker.register(script, { scope: new URL("./", script).pathname });
  // The worker's own texts (its notification's buttons, the claim's answer) in this page's language.
  const registration = await navigator.serviceWorker.ready;
  registration.active.postMessage({ texts: texts.worker });
  if (!("PushManager" in window) || !("Notification" in window)) {
    return;
  }
  const answer = await fetch(body.dataset.vapidKeyUrl, { headers: { Accept: "application/json" } });
  if (!answer.ok) {
    return; // Web Push is not configured on this server: nothing to offer.
  }
  const { public_key: publicKey } = await answer.json();
  document.getElementById("alert-me").addEventListener("click", () => alertMe(publicKey));
  document.getElementById("phone-alerts").hidden = false;
}

offerPhoneAlerts().catch((error) => console.warn("no alerts on this phone:", error));
