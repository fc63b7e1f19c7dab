"""The day-folder format (its one owner), the recorder (stick or spool), the flush,
mounts and the summary.
"""
