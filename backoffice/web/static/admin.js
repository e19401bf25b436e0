// siteclock admin: the few things plain HTML cannot do. Every page works
// without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A picker that shows its choice at once (timecards).
  for (const el of document.querySelectorAll("[data-autosubmit]")) {
    el.addEventListener("change", () => el.form && el.form.requestSubmit());
  }
  // Copy a token shown once.
  for (const b of document.querySelectorAll("[data-copy]")) {
    b.addEventListener("click", async () => {
      const input = document.getElementById(b.dataset.copy);
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        b.textContent = "Copied";
      } catch {
        b.textContent = "Press Ctrl+C";
      }
    });
  }
  // "Go back" on error pages.
  for (const a of document.querySelectorAll("[data-back]")) {
    a.addEventListener("click", (e) => {
      if (history.length > 1) {
        e.preventDefault();
        history.back();
      }
    });
  }
  // Escape hides an open photo.
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && document.activeElement && document.activeElement.classList.contains("info")) {
      document.activeElement.blur();
    }
  });
});
