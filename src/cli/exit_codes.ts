/** Exit codes, documented in the README: only the CLI entry turns errors into these. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
