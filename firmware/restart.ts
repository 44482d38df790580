/**
 * The exit code a relay or agent uses after switching to a new slot: "restart me now". The unit
 * restarts on it (`RestartForceExitStatus=75`), the supervisor's prestart runs first and counts the
 * trial's start. 75 is sysexits' EX_TEMPFAIL: not a config error (2), which stops the unit.
 */
export const EXIT_FIRMWARE_RESTART = 75;
