import { useEffect } from "react";

export const APP_NAME = "Encore";

/** A page's title as the browser shows it: "Checkout · Encore"; just "Encore" without one. */
export function pageTitle(title?: string | null): string {
  return title ? `${title} · ${APP_NAME}` : APP_NAME;
}

/** Give the page its own title (tabs, history, bookmarks, screen readers). Every route calls
 * it; the last one rendered wins. */
export function usePageTitle(title?: string | null): void {
  useEffect(() => {
    document.title = pageTitle(title);
  }, [title]);
}
