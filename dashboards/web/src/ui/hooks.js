// Views read the store through one hook: re-rendered when what they select changes.
import { useEffect, useState, useRef } from "preact/hooks";
import { store } from "../store.js";
import { onLanguage } from "../i18n.js";

export function useStore(select) {
  const [value, setValue] = useState(() => select(store.get()));
  const sel = useRef(select);
  sel.current = select;
  // Through an updater: a selected value that is itself a function (a map pick waiting for its click) is kept, not called.
  useEffect(() => store.subscribe((s) => setValue(() => sel.current(s))), []);
  return value;
}

// Re-render on a language switch.
export function useLanguage() {
  const [, setLang] = useState(0);
  useEffect(() => onLanguage(() => setLang((n) => n + 1)), []);
}

// A value refreshed every second (countdowns, ages).
export function useTick(ms = 1000) {
  const [n, setN] = useState(0);
  useEffect(() => {
    const h = setInterval(() => setN((k) => k + 1), ms);
    return () => clearInterval(h);
  }, [ms]);
  return n;
}
