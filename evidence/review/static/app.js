// Reviewer app: keyboard shortcuts and the record page's actions. No framework, no build step.
// State-changing calls carry the session's CSRF token in the X-CSRF-Token header.
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function typing(ev) {
    var t = ev.target;
    return t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA" || t.isContentEditable);
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(data || {})
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { throw new Error(j.error || (r.status + " " + r.statusText)); }
        return j;
      });
    });
  }

  if (page === "queue") {
    document.addEventListener("keydown", function (ev) {
      if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
      if (ev.key === "n" || ev.key === "j") {
        var next = body.getAttribute("data-next-url");
        if (next && document.getElementById("start")) { ev.preventDefault(); window.location.href = next; }
      }
    });
    return;
  }
  if (page !== "record") { return; }

  var rid = body.getAttribute("data-record-id");
  var canDecide = body.getAttribute("data-can-decide") === "yes";
  var canApprove = body.getAttribute("data-can-approve") === "yes";  // the evidence verifies
  var nextUrl = body.getAttribute("data-next-url");
  var statusEl = document.getElementById("status");
  var panel = document.getElementById("reject-panel");
  var plateInput = document.getElementById("plate-input");
  var busy = false;

  function say(text, good) {
    statusEl.textContent = text;
    statusEl.className = "status-line " + (good ? "good" : "bad");
  }
  function goNext() { window.location.href = nextUrl; }

  function decide(decision, reason) {
    if (!canDecide || busy || (decision === "approve" && !canApprove)) { return; }
    busy = true;
    post("/api/records/" + rid + "/decision", { decision: decision, reason_code: reason || null })
      .then(function (j) { say("✔ " + j.action + " → " + j.status, true); setTimeout(goNext, 300); })
      .catch(function (e) { busy = false; say(body.getAttribute("data-msg-error") + ": " + e.message, false); });
  }

  function openReject() {
    if (!canDecide) { return; }
    panel.hidden = false;
    var first = panel.querySelector('input[name="reason"]:checked') || panel.querySelector('input[name="reason"]');
    if (first) { first.focus(); }
  }
  function closeReject() { panel.hidden = true; }
  function confirmReject() {
    var chosen = panel.querySelector('input[name="reason"]:checked');
    if (chosen) { decide("reject", chosen.value); }
  }

  document.getElementById("approve").addEventListener("click", function () { decide("approve"); });
  document.getElementById("reject").addEventListener("click", openReject);
  document.getElementById("reject-confirm").addEventListener("click", confirmReject);
  document.getElementById("reject-cancel").addEventListener("click", closeReject);

  var candidates = document.querySelectorAll("#candidates .candidate");
  var colorSelect = document.getElementById("plate-color");

  // The reviewer's plate, typed or picked among the candidates; the machine reading stays beside it.
  function savePlate(text, color, source) {
    if (!canDecide) { return; }
    post("/api/records/" + rid + "/plate", { text: text, color: color, source: source })
      .then(function (j) {
        document.getElementById("plate-current").textContent = j.plate_reviewed;
        colorSelect.value = j.plate_color_reviewed;
        document.getElementById("plate-reviewed").textContent = j.plate_reviewed + " · " + colorSelect.options[colorSelect.selectedIndex].text;
        plateInput.value = j.plate_reviewed;
        plateInput.blur();
        Array.prototype.forEach.call(candidates, function (b) {
          b.classList.toggle("chosen", b.getAttribute("data-text") === j.plate_reviewed);
        });
        var must = document.getElementById("plate-must-settle");
        if (must && j.plate_settled) { must.hidden = true; }
        say("✔ " + body.getAttribute("data-msg-saved"), true);
      })
      .catch(function (e) { say(body.getAttribute("data-msg-error") + ": " + e.message, false); });
  }
  function pick(index) {
    var b = candidates[index];
    if (b) { savePlate(b.getAttribute("data-text"), b.getAttribute("data-color"), "candidate"); }
  }
  Array.prototype.forEach.call(candidates, function (b, i) {
    b.addEventListener("click", function () { pick(i); });
  });

  document.getElementById("plate-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    savePlate(plateInput.value, colorSelect.value, "typed");
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === "Escape") {
      if (!panel.hidden) { closeReject(); ev.preventDefault(); return; }
      if (typing(ev)) { ev.target.blur(); ev.preventDefault(); }
      return;
    }
    if (!panel.hidden) {
      var radios = panel.querySelectorAll('input[name="reason"]');
      var n = parseInt(ev.key, 10);
      if (n >= 1 && n <= radios.length) { radios[n - 1].checked = true; radios[n - 1].focus(); ev.preventDefault(); return; }
      if (ev.key === "Enter") { confirmReject(); ev.preventDefault(); }
      return;
    }
    if (typing(ev)) { return; }
    if (ev.key === "a") { ev.preventDefault(); decide("approve"); }
    else if (ev.key === "r") { ev.preventDefault(); openReject(); }
    else if (ev.key === "n" || ev.key === "j") { ev.preventDefault(); goNext(); }
    else if (ev.key === "e" && canDecide) { ev.preventDefault(); plateInput.focus(); plateInput.select(); }
    else if (/^[1-9]$/.test(ev.key) && candidates.length) { ev.preventDefault(); pick(parseInt(ev.key, 10) - 1); }
  });

  // Click an image to zoom to 250 % around the click point; click again to fit.
  Array.prototype.forEach.call(document.querySelectorAll(".zoombox"), function (box) {
    box.addEventListener("click", function (ev) {
      var img = box.querySelector("img");
      var r = img.getBoundingClientRect();
      var fx = (ev.clientX - r.left) / r.width, fy = (ev.clientY - r.top) / r.height;
      box.classList.toggle("zoomed");
      if (box.classList.contains("zoomed")) {
        box.scrollLeft = fx * img.clientWidth - box.clientWidth / 2;
        box.scrollTop = fy * img.clientHeight - box.clientHeight / 2;
      }
    });
  });

  // Keep the claim while the page is open (it lapses on its own if the reviewer walks away).
  if (canDecide) {
    var every = Math.max(5, parseInt(body.getAttribute("data-claim-seconds"), 10) / 3) * 1000;
    setInterval(function () { post("/api/records/" + rid + "/claim").catch(function () {}); }, every);
  }
})();
