/** A compiled suppression pattern (suppression/scopes.ts compiles them; the store caches them). */
export interface Pattern {
  kind: string;
  test: (email: string) => boolean;
}
