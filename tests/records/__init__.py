"""Day folders, the recorder, the flush, sticks and mounts, the summary."""
