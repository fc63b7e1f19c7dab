"""The one-press loop, its events, the headless runner, the watchdog, the clock."""
