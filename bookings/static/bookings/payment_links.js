// Copy buttons of the booking page's payment links (bookings/admin/bookings.py, payment_links).
// A file, not an inline script: the Content-Security-Policy runs only our own scripts. One listener
// on the document also serves buttons that arrive later (unfold loads action forms with htmx).
"use strict";

(() => {
  const copied = (button, text) => {
    const label = button.querySelector("[data-copy-label]");
    if (!label) return;
    label.textContent = text;
    window.clearTimeout(button.copyTimer);
    button.copyTimer = window.setTimeout(() => { label.textContent = "Copy"; }, 2000);
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy-link]");
    if (!button) return;
    event.preventDefault();
    const input = document.getElementById(button.dataset.copyLink);
    if (!input) return;
    try {
      // The Clipboard API needs a secure context (HTTPS, or localhost while developing).
      await navigator.clipboard.writeText(input.value);
      copied(button, "Copied");
    } catch (error) {
      // Elsewhere: select the text so that Ctrl+C / Cmd+C copies it.
      input.focus();
      input.select();
      copied(button, "Press Ctrl+C");
    }
  });
})();
