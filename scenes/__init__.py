"""Built-in scene files (data only); installed as ``physsim_scenes`` so they are found by name."""
