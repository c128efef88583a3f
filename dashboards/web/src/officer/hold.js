// Press and hold: the action runs only after `holdMs` of continuous pressing (a pocket or a stray tap does not
// raise an SOS). Touch, mouse and pen through pointer events; the keyboard by holding Space or Enter. A ring
// fills while held and the label says to keep holding; letting go early cancels, and says so to screen readers.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../ui/html.js";

export function HoldButton({ id, holdMs, label, holdingLabel, onDone }) {
  const [progress, setProgress] = useState(0);
  const started = useRef(null);
  const frame = useRef(0);
  const stop = () => {
    cancelAnimationFrame(frame.current);
    started.current = null;
    setProgress(0);
  };
  const step = () => {
    if (started.current === null) return;
    const p = Math.min(1, (performance.now() - started.current) / holdMs);
    setProgress(p);
    if (p >= 1) {
      stop();
      if (navigator.vibrate) navigator.vibrate(300);
      onDone();
    } else frame.current = requestAnimationFrame(step);
  };
  const begin = () => {
    if (started.current !== null) return;
    started.current = performance.now();
    frame.current = requestAnimationFrame(step);
  };
  useEffect(() => () => cancelAnimationFrame(frame.current), []);
  const onKeyDown = (e) => {
    if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      if (!e.repeat) begin();
    }
  };
  const onKeyUp = (e) => {
    if (e.key === " " || e.key === "Enter") stop();
  };
  const holding = progress > 0;
  return html`<button
    id=${id}
    type="button"
    class=${"big hold" + (holding ? " holding" : "")}
    style=${{ "--progress": progress }}
    data-progress=${progress.toFixed(2)}
    aria-describedby=${id + "-hint"}
    onPointerDown=${(e) => (e.currentTarget.setPointerCapture && e.currentTarget.setPointerCapture(e.pointerId), begin())}
    onPointerUp=${stop}
    onPointerCancel=${stop}
    onPointerLeave=${stop}
    onKeyDown=${onKeyDown}
    onKeyUp=${onKeyUp}
    onBlur=${stop}
    onContextMenu=${(e) => e.preventDefault()}
  >
    <span class="ring" aria-hidden="true"></span>
    <span>${holding ? holdingLabel : label}</span>
    <span id=${id + "-hint"} class="sr-only" aria-live="polite">${holding ? holdingLabel : ""}</span>
  </button>`;
}
