/** Raised for what the operator named wrongly on the command line (exit code 2). */
export class UsageError extends Error {}
