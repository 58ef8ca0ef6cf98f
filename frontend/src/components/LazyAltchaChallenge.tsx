import { lazy } from "react";

/** The proof-of-work widget, loaded only when a page needs it (it weighs more than the rest of
 * the concert page): render it inside a Suspense. */
export const LazyAltchaChallenge = lazy(() =>
  import("./AltchaChallenge").then((m) => ({ default: m.AltchaChallenge })),
);
