/*
 * Seatdesk live notifications for the admin: one WebSocket per page, no framework, no build step.
 *
 * - Connects to /ws/notifications/ with the session cookie; reconnects with exponential backoff
 *   (1 s doubling to 30 s, with jitter) and ?since=<last notification id>, so the server replays
 *   what arrived while the page was away. Frames are de-duplicated by their envelope id.
 * - Shows a toast for each event meant for people (not for slot.updated, which is a figure).
 * - Keeps the bell's unread count (#sd-bell, data-unread) and rewrites every element carrying
 *   data-session-seats="<session id>" (each seats figure on the page: sessions list and page,
 *   calendar, dashboard, tutor workspace) with the words slot.updated carries in seats_text,
 *   watching those sessions on the server so their seat changes arrive. The words are the
 *   server's (bookings.selectors): this file writes them, it never composes its own.
 * Anonymous or logged out (4401) and forbidden (4403) closes stop the reconnecting: logging in
 * again reloads. Any other close reconnects, 4000 too ("your access changed": a new role or
 * password), and the server authorises the new socket afresh from the session cookie.
 */
(function () {
  "use strict";

  if (window.SeatdeskLive || !("WebSocket" in window)) return;

  var STOP_CODES = { 4401: true, 4403: true };
  var MAX_DELAY = 30000;
  var TOAST_MS = 6000;
  var MAX_TOASTS = 4;
  var seen = new Set();
  var since = null;
  var attempt = 0;
  var socket = null;
  var stopped = false;

  var COLOURS = {
    "booking.cancelled": "#dc2626",
    "booking.expired": "#d97706",
    "booking.no_show": "#dc2626",
    "payment.received": "#16a34a",
    "booking.confirmed": "#16a34a"
  };

  function url() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + "/ws/notifications/" + (since !== null ? "?since=" + since : "");
  }

  function connect() {
    if (stopped) return;
    socket = new WebSocket(url());
    socket.onopen = function () {
      attempt = 0;
    };
    socket.onmessage = function (message) {
      var frame;
      try {
        frame = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      handle(frame);
    };
    socket.onclose = function (event) {
      socket = null;
      if (STOP_CODES[event.code]) {
        stopped = true;
        return;
      }
      var delay = Math.min(MAX_DELAY, 1000 * Math.pow(2, attempt));
      attempt += 1;
      setTimeout(connect, delay / 2 + Math.random() * delay / 2);
    };
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function handle(frame) {
    if (frame.type === "hello") {
      setUnread(frame.unread);
      since = frame.last;
      watchSeats();
      return;
    }
    if (frame.type === "unread") {
      setUnread(frame.unread);
      return;
    }
    if (frame.type === "error" || frame.type === "watching" || frame.type === "unwatched") return;
    if (frame.notification && frame.notification > (since || 0)) since = frame.notification;
    if (frame.id) {
      if (seen.has(frame.id)) return;
      seen.add(frame.id);
      if (seen.size > 2000) seen = new Set(Array.from(seen).slice(-1000));
    }
    if (frame.type === "slot.updated") {
      updateSeats(frame.data || {});
      return;
    }
    if (frame.mine && !frame.read) bumpUnread(1);
    if (!frame.replay || !frame.read) toast(frame);
  }

  // --- The bell ----------------------------------------------------------------------------------

  function bell() {
    return document.getElementById("sd-bell");
  }

  function setUnread(count) {
    var el = bell();
    if (!el) return;
    el.setAttribute("data-unread", String(count));
    var badge = el.querySelector("[data-unread-count]");
    if (badge) {
      badge.textContent = count > 99 ? "99+" : String(count);
      badge.style.display = count > 0 ? "" : "none";
    }
  }

  function bumpUnread(by) {
    var el = bell();
    if (el) setUnread((parseInt(el.getAttribute("data-unread"), 10) || 0) + by);
  }

  // --- Seats figures -----------------------------------------------------------------------------

  function watchSeats() {
    var ids = {};
    document.querySelectorAll("[data-session-seats]").forEach(function (el) {
      ids[el.getAttribute("data-session-seats")] = true;
    });
    Object.keys(ids)
      .slice(0, 100)
      .forEach(function (id) {
        var n = parseInt(id, 10);
        if (n > 0) send({ action: "watch", session: n });
      });
  }

  function updateSeats(data) {
    if (!data.session || typeof data.seats_text !== "string") return;
    document.querySelectorAll('[data-session-seats="' + data.session + '"]').forEach(function (el) {
      // A started session shows its attendance, which slot.updated does not describe: kept as rendered.
      if (el.getAttribute("data-seats-kind") === "attendance") return;
      el.textContent = data.seats_text;
      el.setAttribute("data-seats-left", String(data.seats_left));
      el.style.transition = "background-color 1.5s";
      el.style.backgroundColor = "rgba(250, 204, 21, 0.45)";
      setTimeout(function () {
        el.style.backgroundColor = "";
      }, 1500);
    });
  }

  // --- Toasts ------------------------------------------------------------------------------------

  function toastBox() {
    var box = document.getElementById("sd-toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "sd-toasts";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      box.style.cssText =
        "position:fixed;right:16px;bottom:16px;z-index:10000;display:flex;flex-direction:column;gap:8px;max-width:360px";
      document.body.appendChild(box);
    }
    return box;
  }

  function toast(frame) {
    var title = frame.title; // the server adds the same title the bell stores
    if (!title) return;
    var data = frame.data || {};
    var box = toastBox();
    while (box.children.length >= MAX_TOASTS) box.removeChild(box.firstChild);
    var item = document.createElement("div");
    item.className = "sd-toast";
    item.setAttribute("data-type", frame.type);
    item.style.cssText =
      "background:#fff;color:#111827;border:1px solid #e5e7eb;border-left:4px solid " +
      (COLOURS[frame.type] || "#2563eb") +
      ";border-radius:6px;padding:10px 14px;box-shadow:0 4px 12px rgba(0,0,0,.15);font-size:14px;cursor:pointer";
    var strong = document.createElement("strong");
    strong.textContent = title;
    item.appendChild(strong);
    var text = frame.message || data.summary;
    if (text) {
      var line = document.createElement("div");
      line.style.cssText = "margin-top:2px;color:#4b5563";
      line.textContent = text;
      item.appendChild(line);
    }
    item.addEventListener("click", function () {
      if (data.booking) location.href = "/admin/bookings/booking/" + data.booking + "/change/";
      else item.remove();
    });
    box.appendChild(item);
    setTimeout(function () {
      item.remove();
    }, TOAST_MS);
  }

  window.SeatdeskLive = {
    markAllRead: function () {
      send({ action: "mark_all_read" });
    },
    watch: function (id) {
      send({ action: "watch", session: id });
    }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect);
  else connect();
})();
