// The ops page: trade the admin token for a short-lived ticket, open the event stream with it, and keep
// the table of the latest alerts current: who is on each, its escalation, its outcome and its deliveries.
// Everything is rendered with textContent: alert fields come from the camera system, names and notes from
// staff, and none is ever parsed as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "nootification.ops.token";
  const RECONNECT_MS = 1000; // after the server ends a stream (it bounds each one)
  const RETRY_MS = 5000; // after a refused ticket or stream
  const STATUSES = ["pending", "queued", "sending", "scheduled", "sent", "failed", "expired"];
  const PHONE_CHANNELS = ["webpush", "fcm"]; // the channels whose phones report receipts

  const body = document.body;
  const ticketUrl = body.dataset.ticketUrl;
  const eventsUrl = body.dataset.eventsUrl;
  const recent = Number(body.dataset.recent) || 20;
  const byId = (id) => document.getElementById(id);

  const alerts = new Map(); // alert_uuid -> alert, as the last event said
  let source = null;
  let updates = 0;

  class Refused extends Error {}

  function setConnection(text, state) {
    const element = byId("connection");
    element.textContent = text;
    element.className = `connection connection-${state}`;
  }

  function showForm(message) {
    byId("token-form").hidden = false;
    byId("forget").hidden = true;
    byId("token-error").textContent = message || "";
    byId("token").focus();
  }

  function takeTokenFromFragment() {
    // `/ops#token=...` opens the page already connected; a fragment never reaches the server or its logs.
    const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  async function fetchTicket(token) {
    const response = await fetch(ticketUrl, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
    });
    const answer = await response.json().catch(() => ({}));
    if (response.status === 401 || response.status === 403) {
      throw new Refused(answer.message || "The token was refused.");
    }
    if (!response.ok) {
      throw new Error(answer.message || `The ticket request failed (${response.status}).`);
    }
    return answer.ticket;
  }

  function later(delay) {
    setTimeout(connect, delay);
  }

  async function connect() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      setConnection("not connected", "idle");
      showForm();
      return;
    }
    byId("token-form").hidden = true;
    byId("forget").hidden = false;
    setConnection("connecting…", "connecting");
    let ticket;
    try {
      ticket = await fetchTicket(token);
    } catch (error) {
      if (error instanceof Refused) {
        sessionStorage.removeItem(TOKEN_KEY);
        setConnection("not connected", "idle");
        showForm(error.message);
      } else {
        setConnection(`${error.message} Retrying…`, "error");
        later(RETRY_MS);
      }
      return;
    }
    source = new EventSource(`${eventsUrl}?ticket=${encodeURIComponent(ticket)}`);
    source.addEventListener("open", () => setConnection("live", "live"));
    source.addEventListener("snapshot", (event) => {
      alerts.clear();
      for (const alert of JSON.parse(event.data).alerts) {
        alerts.set(alert.alert_uuid, alert);
      }
      render();
    });
    // The open shops whose roster has nobody on shift: their critical alerts go to the off-hours tier.
    source.addEventListener("shops", (event) => {
      const uncovered = JSON.parse(event.data).uncovered;
      const warning = byId("uncovered");
      warning.hidden = uncovered.length === 0;
      warning.textContent = `Nobody on shift at ${uncovered.join(", ")}: critical alerts go to the off-hours tier.`;
    });
    source.addEventListener("alert", (event) => {
      const alert = JSON.parse(event.data);
      alerts.set(alert.alert_uuid, alert);
      updates += 1;
      render();
    });
    source.addEventListener("end", () => {
      source.close();
      setConnection("reconnecting…", "connecting");
      later(RECONNECT_MS);
    });
    source.addEventListener("error", () => {
      // CONNECTING: the browser retries by itself. CLOSED: the server refused (an expired ticket, too many
      // streams), so start again with a new ticket.
      if (source.readyState === EventSource.CLOSED) {
        setConnection("disconnected, retrying…", "error");
        later(RETRY_MS);
      } else {
        setConnection("reconnecting…", "connecting");
      }
    });
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function time(iso) {
    return iso ? new Date(iso).toLocaleTimeString() : "";
  }

  function deliveryItem(delivery) {
    const item = element("li", `delivery status-${delivery.status}`);
    item.dataset.deliveryId = delivery.id;
    item.dataset.status = delivery.status;
    item.append(
      element("span", "channel", delivery.channel),
      element("span", "user", delivery.user),
      element("span", "status", delivery.status),
    );
    item.dataset.escalationStep = String(delivery.escalation_step);
    if (delivery.escalation_step > 0) {
      item.append(element("span", "step", `step ${delivery.escalation_step}`));
    }
    item.dataset.ladderStep = String(delivery.ladder_step);
    if (delivery.ladder_step > 0) {
      item.append(element("span", "rung", `ladder ${delivery.ladder_step + 1}`));
    }
    if (delivery.attempts > 1) item.append(element("span", "attempts", `×${delivery.attempts}`));
    if (delivery.last_error) item.title = delivery.last_error;
    if (delivery.sent_at) item.append(element("span", "sent-at", time(delivery.sent_at)));
    // Reported by the provider (an SMS's or a call's status): it reached the phone, or did not, and why.
    if (delivery.provider_status) {
      const code = delivery.provider_error_code ? ` ${delivery.provider_error_code}` : "";
      const said = `${delivery.channel} ${delivery.provider_status}${code}`;
      item.append(element("span", `provider ${delivery.provider_status}`, said));
    }
    // Reported by the phone: the notification arrived, then was opened.
    if (delivery.seen_at) {
      item.append(element("span", "receipt seen", `seen ${time(delivery.seen_at)}`));
    } else if (delivery.delivered_at) {
      item.append(element("span", "receipt delivered", `on the phone ${time(delivery.delivered_at)}`));
    }
    return item;
  }

  function claimCell(alert) {
    if (!alert.claimed_at) return element("td", "claim unclaimed", "unclaimed");
    const cell = element("td", "claim");
    cell.append(
      element("span", "who", alert.claimed_by || "a removed user"),
      element("span", "dim", ` since ${time(alert.claimed_at)}`),
    );
    return cell;
  }

  function escalationCell(alert) {
    const cell = element("td", "escalation");
    for (const step of alert.escalations) {
      cell.append(element("div", "step", `tier ${step.tier} told at ${time(step.at)}`));
    }
    if (alert.next_escalation_at) {
      cell.append(element("div", "next-step", `next step due at ${time(alert.next_escalation_at)}`));
    }
    // Steps of the shop's ladder are counted from 1 here: "ladder 2" is the first fallback (an SMS, say).
    if (alert.ladder_step > 0) {
      cell.append(element("div", "ladder", `ladder step ${alert.ladder_step + 1} at ${time(alert.ladder_step_at)}`));
    }
    return cell;
  }

  function outcomeCell(alert) {
    const cell = element("td", "outcome");
    if (!alert.outcome) return cell;
    cell.append(element("div", `outcome-${alert.outcome}`, alert.outcome.replaceAll("_", " ")));
    if (alert.value_recovered !== null) {
      cell.append(element("div", "value", `${alert.value_recovered.toFixed(2)} recovered`));
    }
    const by = alert.outcome_by || "a removed user";
    cell.append(element("div", "dim", `by ${by} at ${time(alert.outcome_at)}`));
    if (alert.outcome_note) cell.title = alert.outcome_note;
    return cell;
  }

  function alertRow(alert) {
    const row = element("tr", `severity-${alert.severity}`);
    row.dataset.alertUuid = alert.alert_uuid;
    const link = element("a", "alert-link", alert.alert_uuid.slice(0, 8));
    if (alert.url) {
      link.href = alert.url;
      link.rel = "noreferrer noopener";
      link.target = "_blank";
      link.title = `${alert.alert_uuid}: watch the video`;
    } else {
      link.title = `${alert.alert_uuid}: the clip was removed (retention)`;
    }
    const deliveries = element("ul", "deliveries");
    deliveries.append(...alert.deliveries.map(deliveryItem));
    if (alert.quiet) {
      const until = alert.group_closes_at ? ` until ${time(alert.group_closes_at)}` : "";
      const why = {
        grouped: `grouped: one of ${alert.group_size}, summed up${until}`,
        closed: `shop closed: held${until} for its opening's summary`,
        silenced: "silenced: told to nobody",
      }[alert.quiet] || alert.quiet;
      const item = element("li", "quiet", why);
      item.dataset.quiet = alert.quiet;
      deliveries.append(item);
    } else if (!alert.deliveries.length) {
      deliveries.append(element("li", "dim", "nobody to notify"));
    }
    // Its vendor events and claim notices, beside the deliveries, each named by its kind.
    for (const record of alert.outbound || []) {
      const item = deliveryItem(record);
      item.classList.add("outbound", `kind-${record.kind}`);
      item.dataset.kind = record.kind;
      item.prepend(element("span", "kind", record.kind.replace("_", " ")));
      deliveries.append(item);
    }
    const cells = [
      element("td", "received", time(alert.received_at)),
      element("td", "location", alert.location),
      element("td", "label", `${alert.label} (${alert.severity})`),
      element("td", "alert"),
      claimCell(alert),
      escalationCell(alert),
      outcomeCell(alert),
      element("td"),
    ];
    cells[3].append(link);
    cells[7].append(deliveries);
    row.append(...cells);
    return row;
  }

  function median(values) {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length ? sorted[Math.ceil(sorted.length / 2) - 1] : null;
  }

  // Per channel, of the sent deliveries shown: how many the phone reported arrived and opened, and the
  // median time from the alert's receipt to its notification opened.
  function onThePhone(latest) {
    const channels = new Map();
    for (const alert of latest) {
      for (const delivery of alert.deliveries) {
        if (delivery.status !== "sent") continue;
        const counts = channels.get(delivery.channel) || { sent: 0, delivered: 0, seen: [] };
        counts.sent += 1;
        if (delivery.delivered_at) counts.delivered += 1;
        if (delivery.seen_at) counts.seen.push((Date.parse(delivery.seen_at) - Date.parse(alert.received_at)) / 1000);
        channels.set(delivery.channel, counts);
      }
    }
    return [...channels.entries()]
      .filter(([channel, counts]) => PHONE_CHANNELS.includes(channel) || counts.delivered > 0)
      .map(([channel, counts]) => {
        const seenAfter = median(counts.seen);
        const text = `${channel}: on the phone ${counts.delivered}/${counts.sent}, seen ${counts.seen.length}/${counts.sent}`
          + (seenAfter === null ? "" : `, alert → seen ${Math.round(seenAfter)} s`);
        const item = element("li", "phone", text);
        item.dataset.channel = channel;
        return item;
      });
  }

  function render() {
    const latest = [...alerts.values()]
      .sort((a, b) => Date.parse(b.received_at) - Date.parse(a.received_at))
      .slice(0, recent);
    for (const uuid of [...alerts.keys()]) {
      if (!latest.some((alert) => alert.alert_uuid === uuid)) alerts.delete(uuid);
    }
    byId("alerts").tBodies[0].replaceChildren(...latest.map(alertRow));
    byId("empty").hidden = latest.length > 0;

    const counts = Object.fromEntries(STATUSES.map((status) => [status, 0]));
    for (const alert of latest) {
      for (const delivery of alert.deliveries) counts[delivery.status] = (counts[delivery.status] || 0) + 1;
    }
    byId("summary").replaceChildren(
      ...Object.entries(counts).map(([status, count]) => {
        const item = element("li", `status-${status}`, `${status} ${count}`);
        item.dataset.status = status;
        item.dataset.count = String(count);
        return item;
      }),
    );
    byId("on-the-phone").replaceChildren(...onThePhone(latest));
    // Alerts and the groups they formed; those that rang nobody when they came, by why.
    const groups = new Set(latest.filter((alert) => alert.group_id !== null).map((alert) => alert.group_id));
    const quiet = latest.filter((alert) => alert.quiet).length;
    byId("calm").textContent = `${latest.length} alerts in ${groups.size} groups; ${quiet} rang nobody when they came`;
    byId("updates").textContent = `${updates} update${updates === 1 ? "" : "s"}`;
    byId("updates").dataset.count = String(updates);
    byId("last-event").textContent = `last event ${new Date().toLocaleTimeString()}`;
  }

  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = byId("token").value.trim();
    byId("token").value = "";
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
      connect();
    }
  });

  byId("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    if (source) source.close();
    alerts.clear();
    render();
    setConnection("not connected", "idle");
    showForm();
  });

  takeTokenFromFragment();
  connect();
})();
