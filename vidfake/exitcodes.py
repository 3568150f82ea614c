"""Exit codes of every vidfake command; the README and `vidfake --help` list them."""

EXIT_OK = 0  # every input processed
EXIT_SOME_FAILED = 1  # the job finished, but some inputs got status `error`
EXIT_USAGE = 2  # bad arguments or configuration
EXIT_FAILED = 3  # the job could not run (missing input, unreadable model, ...)

EXIT_CODES = {
    EXIT_OK: "success: every input processed",
    EXIT_SOME_FAILED: "finished, but some inputs failed (see the status column)",
    EXIT_USAGE: "bad arguments or configuration",
    EXIT_FAILED: "the job could not run",
}
