/*
 * Seatdesk live notifications for the admin: one WebSocket per page, no framework, no build step.
 *
 * - Connects to /ws/notifications/ with the session cookie; reconnects with exponential backoff
 *   (1 s doubling to 30 s, with jitter) and ?since=<last notification id>, so the server replays
 *   what arrived while the page was away. Frames are de-duplicated by their envelope id.
 * - Shows a toast for each event meant for people (not for slot.updated, which is a figure).
 * - Keeps one unread count on the page: the bell (#sd-bell, data-unread) and every element carrying
 *   data-unread-count (the bell's figure, the sidebar badge, the tutor workspace's card), set from
 *   the server's hello and "unread" frames and raised by one per live notification stored for this
 *   person (not for a replayed one: the hello's count already holds it). The bell opens a menu of
 *   the newest notifications, fetched from its data-menu address, with "Mark all read".
 * - Labels date-time inputs with the zone the server reads them in ("Times in Asia/Tashkent")
 *   where Django's DateTimeShortcuts would warn "You are N hours behind server time".
 * - Rewrites every element carrying
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
    // A replayed notification is already in the hello's count; a live one is new.
    if (frame.mine && !frame.read && !frame.replay) bumpUnread(1);
    if (!frame.replay || !frame.read) toast(frame);
  }

  // --- The bell ----------------------------------------------------------------------------------

  function bell() {
    return document.getElementById("sd-bell");
  }

  function setUnread(count) {
    count = Math.max(0, parseInt(count, 10) || 0);
    var el = bell();
    if (el) {
      el.setAttribute("data-unread", String(count));
      el.setAttribute("title", count ? "Notifications: " + count + " unread" : "Notifications");
      el.setAttribute("aria-label", "Notifications, " + count + " unread");
    }
    // Every figure of the count on the page says the same: bell, sidebar badge, workspace card.
    document.querySelectorAll("[data-unread-count]").forEach(function (figure) {
      var cap = parseInt(figure.getAttribute("data-unread-cap"), 10);
      figure.textContent = cap && count > cap ? cap + "+" : String(count);
      if (figure.hasAttribute("data-unread-hide-zero")) figure.style.display = count > 0 ? "" : "none";
    });
  }

  function bumpUnread(by) {
    var el = bell();
    if (el) setUnread((parseInt(el.getAttribute("data-unread"), 10) || 0) + by);
  }

  // The bell's menu: the newest notifications, fetched from the server each time it opens (the
  // bell stays a plain link to the unread list without JavaScript).
  function bellMenu() {
    return document.getElementById("sd-bell-menu");
  }

  function closeMenu() {
    var menu = bellMenu();
    var el = bell();
    if (menu) menu.hidden = true;
    if (el) el.setAttribute("aria-expanded", "false");
  }

  function openMenu() {
    var el = bell();
    var menu = bellMenu();
    if (!el || !menu || !el.getAttribute("data-menu")) return false;
    menu.hidden = false;
    el.setAttribute("aria-expanded", "true");
    if (!menu.firstChild) menu.innerHTML = '<div style="padding:16px" class="text-subtle">Loading…</div>';
    fetch(el.getAttribute("data-menu"), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        menu.innerHTML = html;
      })
      .catch(function () {
        location.href = el.href; // the list still works
      });
    return true;
  }

  function setUpBell() {
    var el = bell();
    if (!el) return;
    el.addEventListener("click", function (event) {
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return; // a new tab: the list
      var menu = bellMenu();
      if (menu && !menu.hidden) {
        event.preventDefault();
        closeMenu();
      } else if (openMenu()) {
        event.preventDefault();
      }
    });
    document.addEventListener("click", function (event) {
      var box = document.getElementById("sd-bell-box");
      if (box && !box.contains(event.target)) closeMenu();
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") closeMenu();
    });
  }

  // --- Date-time inputs: a zone label, not a warning ---------------------------------------------

  function labelTimeZones() {
    var shortcuts = window.DateTimeShortcuts;
    var marker = document.getElementById("sd-time-zone");
    var zone = marker && marker.getAttribute("data-time-zone");
    if (!shortcuts || shortcuts.sdLabelled) return;
    shortcuts.sdLabelled = true;
    // Django warns in red beside every date and time input when the browser's zone differs from
    // the server's. The server reads what is typed in its zone, so say which, once per date-time
    // (beside its time), and nothing beside plain dates or times (a tutor's hours are their own).
    shortcuts.addTimezoneWarning = function (input) {
      if (!shortcuts.timezoneOffset || !zone || !isDateTimeTime(input)) return;
      if (input.parentNode.querySelector(".sd-zone-label")) return;
      var label = document.createElement("div");
      label.className = "help sd-zone-label leading-relaxed mt-1 text-xs text-base-500 dark:text-base-400";
      label.textContent = "Times in " + zone;
      input.parentNode.appendChild(label);
    };
  }

  function isDateTimeTime(input) {
    var name = input.name || "";
    if (!input.classList.contains("vTimeField") || name.slice(-2) !== "_1") return false;
    var form = input.form || document;
    return !!form.querySelector('input.vDateField[name="' + name.slice(0, -2) + '_0"]');
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

  function start() {
    setUpBell();
    labelTimeZones(); // before DateTimeShortcuts.init, which runs on the window's load
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
