// Small helpers for building the page: elements are made with their text
// set as text, never parsed as HTML.

/** The element with the id. */
export const $ = (id) => document.getElementById(id);

/** Makes an element with properties (class, text, on… listeners, other
 * attributes) and children. */
export function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

/** Shows an error's message in el, or hides el when there is none. */
export function showError(el, err) {
  el.textContent = err ? err.message : "";
  el.hidden = !err;
}

/** Has button copy the text of field, and say so on itself for a moment. */
export function copier(button, field) {
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
    } catch {
      // Without the clipboard (a page over plain http), select it to copy.
      field.select();
      document.execCommand("copy");
    }
    const was = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = was), 1500);
  });
}
