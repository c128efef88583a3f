// A modal dialog that keeps focus inside it (Tab and Shift+Tab cycle), closes on Escape, and gives focus back
// to what opened it.
import { useEffect, useRef } from "preact/hooks";
import { html } from "./html.js";

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function Dialog({ title, onClose, children, id }) {
  const ref = useRef(null);
  useEffect(() => {
    const opener = document.activeElement;
    const first = ref.current.querySelector("[autofocus]") || ref.current.querySelector(FOCUSABLE);
    if (first) first.focus();
    return () => {
      if (opener && opener.isConnected) opener.focus();
    };
  }, []);
  const onKeyDown = (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      onClose();
      return;
    }
    if (e.key !== "Tab") return;
    const items = [...ref.current.querySelectorAll(FOCUSABLE)];
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };
  return html`<div class="backdrop">
    <div class="dialog" role="dialog" aria-modal="true" aria-labelledby=${id + "-title"} id=${id} ref=${ref} onKeyDown=${onKeyDown}>
      <h2 id=${id + "-title"}>${title}</h2>
      ${children}
    </div>
  </div>`;
}
