"""The one-press loop, its events and model sources, the assembly from the config,
the headless runner, sd_notify and the clock: knows no UI.
"""
