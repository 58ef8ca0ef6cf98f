/** The genres offered when browsing and when creating a concert. */
export const GENRES = [
  "rock",
  "pop",
  "jazz",
  "classical",
  "electronic",
  "hip-hop",
  "folk",
  "metal",
];
