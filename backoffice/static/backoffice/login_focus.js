// The login page's username field takes the cursor, so staff can type at once. Its `autofocus`
// alone is lost: the page's scripts (Alpine) take over after the browser applies it. A file, not
// an inline script: the Content-Security-Policy runs no inline script.
window.addEventListener("load", () => {
  const field = document.querySelector("form [autofocus]");
  if (field && (document.activeElement === null || document.activeElement === document.body)) {
    field.focus();
  }
});
