// The staff page, kept current: every few seconds it re-reads who is on it and who was told.
"use strict";

const body = document.body;
const stateUrl = body.dataset.stateUrl;
const me = body.dataset.user;

function showClaim(state) {
  const text = state.claimed_by_user_uuid === me
    ? "You are on it."
    : state.claimed_by ? `${state.claimed_by} is on it.` : "Nobody is on it yet.";
  document.getElementById("claim-state").textContent = text;
  document.getElementById("claim-form").hidden = Boolean(state.claimed_by);
}

function showTold(state) {
  const list = document.getElementById("told-list");
  list.replaceChildren(...state.told.map((person) => {
    const item = document.createElement("li");
    const detail = document.createElement("span");
    detail.className = "dim";
    detail.textContent = ` (${person.channels.join(", ")}${person.reached ? "" : ", not reached yet"})`;
    item.append(person.name, detail);
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
